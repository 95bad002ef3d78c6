// Package api holds Qun's public HTTP/JSON wire types (version v1) and a Go
// client. It imports nothing from internal/: the CLI, agents, the dashboard
// and any other client speak only this.
//
// # Endpoints
//
//	POST   /v1/jobs                         submit a job spec (JSON of a qun/v1 Job) → 201 Job
//	GET    /v1/jobs?state=S&queue=Q         list → JobList
//	GET    /v1/jobs/{id}                    → Job
//	POST   /v1/jobs/{id}/cancel             → Job
//	GET    /v1/jobs/{id}/explain            → Explanation
//	GET    /v1/jobs/{id}/logs?rank=N&stream=stdout|stderr   → text/plain
//	POST   /v1/jobs/{id}/logs?rank=N&attempt=A&stream=S     agents append log bytes
//	POST   /v1/nodes                        register (RegisterRequest) → Node
//	GET    /v1/nodes                        → NodeList
//	DELETE /v1/nodes/{name}                 remove a node
//	POST   /v1/nodes/{name}/heartbeat       (HeartbeatRequest) → HeartbeatResponse
//	GET    /v1/queues                       → QueueList
//	GET    /v1/pool                         → the pool summary (as `qun pool show -o json`)
//
// Every error is an Error body with a code from a small taxonomy mapped to a
// status in one place on the server: bad_data 400, not_found 404, conflict
// 409, gone 410, too_large 413, unavailable 503, internal 500.
//
// # Agents
//
// An agent registers its node (name, boot ID, address, devices) and then
// heartbeats. Each heartbeat reports the state of every rank it runs and gets
// back the full list of ranks the node should run; the agent starts what is
// missing and stops what is no longer listed (SIGTERM, then SIGKILL after the
// assignment's grace period). A restarted agent keeps its boot ID (from its
// state directory) and so re-registers idempotently; another process
// registering the same name with a different boot ID while the node is
// alive gets 409 conflict.
package api
