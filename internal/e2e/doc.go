// Package e2e holds Qun's end-to-end tests: they build the qun binary and
// the example workload, run a server and agents as separate processes (the
// netns test puts each agent in a network namespace of its own), submit the
// example job and check the trained model against a single-process run.
//
// The tests need no network beyond this machine. The netns test needs root
// (it runs scripts/netns.sh, which installs iproute2 when missing) and skips
// with a message otherwise.
package e2e
