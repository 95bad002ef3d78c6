package api

import (
	"encoding/json"
	"time"
)

// JobState is where a job is in its life.
type JobState string

// Job states. A preempted job returns to pending with Attempt increased.
const (
	JobPending  JobState = "pending"  // accepted, waiting for capacity
	JobStarting JobState = "starting" // placed; ranks are being launched
	JobRunning  JobState = "running"  // every rank has started
	JobStopping JobState = "stopping" // cancel or preemption under way (grace period)
	// JobRecovering: a fault ended the attempt; the survivors are stopping,
	// the restart backoff runs, or the gang waits to be placed again.
	JobRecovering JobState = "recovering"
	JobSucceeded  JobState = "succeeded" // every rank exited 0
	JobFailed     JobState = "failed"    // a rank failed or its node was lost
	JobCancelled  JobState = "cancelled"
)

// Terminal reports whether no further change will happen.
func (s JobState) Terminal() bool {
	return s == JobSucceeded || s == JobFailed || s == JobCancelled
}

// Job is a submitted job and its status.
type Job struct {
	ID          string          `json:"id"`
	Name        string          `json:"name"`
	Queue       string          `json:"queue"`
	Priority    int             `json:"priority"`
	State       JobState        `json:"state"`
	Reason      string          `json:"reason,omitempty"` // why pending, failed or stopped
	Attempt     int             `json:"attempt"`          // 0 for the first run; +1 per restart
	Spec        json.RawMessage `json:"spec"`             // the qun/v1 Job spec as accepted, normalised
	SubmittedAt time.Time       `json:"submitted_at"`
	StartedAt   *time.Time      `json:"started_at,omitempty"`
	FinishedAt  *time.Time      `json:"finished_at,omitempty"`
	Placement   []RankPlacement `json:"placement,omitempty"`
	Ranks       []RankStatus    `json:"ranks,omitempty"`
	// History has one entry per ended attempt, oldest first.
	History []Attempt `json:"history,omitempty"`

	// ReasonCode is, for a pending job, the reason code of the scheduler's
	// latest record for it (e.g. "quota-for-kind", "reserved").
	ReasonCode string `json:"reason_code,omitempty"`
	// EstimatedStart is, for a pending job holding a reservation, when the
	// scheduler's last cycle expects it to start.
	EstimatedStart *time.Time `json:"estimated_start,omitempty"`
}

// Attempt is one ended attempt of a job: why it ended and how the job
// came back.
type Attempt struct {
	Attempt     int        `json:"attempt"`
	Cause       string     `json:"cause"` // node-lost, device-unhealthy, rank-failed, rank-signaled, preempted
	Detail      string     `json:"detail,omitempty"`
	Nodes       []string   `json:"nodes,omitempty"` // the node of every rank
	StartedAt   time.Time  `json:"started_at"`
	DetectedAt  time.Time  `json:"detected_at"`
	EndedAt     *time.Time `json:"ended_at,omitempty"`     // every rank of the attempt stopped
	RecoveredAt *time.Time `json:"recovered_at,omitempty"` // every rank of the next attempt running
	// Path is how the job came back: restart-in-place, re-place,
	// requeue, or give-up; Why says why.
	Path     string     `json:"path"`
	Why      string     `json:"why,omitempty"`
	Replaced []RankMove `json:"replaced,omitempty"` // ranks of the next attempt on other nodes
}

// RankMove is where a replaced rank went.
type RankMove struct {
	Rank int    `json:"rank"`
	From string `json:"from"`
	To   string `json:"to"`
}

// JobList is the answer of GET /v1/jobs.
type JobList struct {
	Jobs []Job `json:"jobs"`
}

// RankPlacement says where one rank runs.
type RankPlacement struct {
	Rank      int    `json:"rank"`
	Node      string `json:"node"`
	Devices   []int  `json:"devices"`    // device indices on the node
	ChipMilli int    `json:"chip_milli"` // thousandths of a chip per device (1000 for whole chips)
}

// Rank states as agents report them.
const (
	RankStarting = "starting"
	RankRunning  = "running"
	RankExited   = "exited"
)

// RankStatus is the last known state of one rank.
type RankStatus struct {
	Rank      int        `json:"rank"`
	Node      string     `json:"node"`
	State     string     `json:"state"` // RankStarting, RankRunning, RankExited
	PID       int        `json:"pid,omitempty"`
	ExitCode  *int       `json:"exit_code,omitempty"`
	Signal    string     `json:"signal,omitempty"` // e.g. "SIGKILL" when killed by a signal
	StartedAt *time.Time `json:"started_at,omitempty"`
	ExitedAt  *time.Time `json:"exited_at,omitempty"`
}

// Explanation is why a job is placed, pending or rejected.
type Explanation struct {
	JobID   string   `json:"job_id"`
	Records []Record `json:"records"`
}

// Record is one entry of an explanation.
type Record struct {
	Plugin string  `json:"plugin"`
	Reason string  `json:"reason"`
	Detail string  `json:"detail,omitempty"`
	Score  float64 `json:"score,omitempty"`
	Count  int     `json:"count,omitempty"`
}

// Node states.
const (
	NodeReady   = "ready"
	NodeLost    = "lost" // no heartbeat within the timeout
	NodeRemoved = "removed"
)

// Node is a registered machine.
type Node struct {
	Name          string    `json:"name"`
	Address       string    `json:"address"`
	BootID        string    `json:"boot_id"`
	State         string    `json:"state"`
	Devices       []Device  `json:"devices"`
	RegisteredAt  time.Time `json:"registered_at"`
	LastHeartbeat time.Time `json:"last_heartbeat"`
}

// NodeList is the answer of GET /v1/nodes.
type NodeList struct {
	Nodes []Node `json:"nodes"`
}

// Device is one accelerator on a node.
type Device struct {
	Index   int    `json:"index"`
	Kind    string `json:"kind"`
	Vendor  string `json:"vendor"`
	UUID    string `json:"uuid"`
	HBMMiB  int64  `json:"hbm_mib"`
	Healthy bool   `json:"healthy"`
}

// RegisterRequest registers a node. Name must be a host of the server's pool.
type RegisterRequest struct {
	Name    string   `json:"name"`
	BootID  string   `json:"boot_id"`
	Address string   `json:"address"` // where ranks on this node are reachable (MASTER_ADDR)
	Devices []Device `json:"devices"`
}

// HeartbeatRequest reports every rank the agent runs or has seen exit since
// the last acknowledged heartbeat.
type HeartbeatRequest struct {
	BootID string       `json:"boot_id"`
	Ranks  []RankReport `json:"ranks"`
	// Devices is the health of every device of the node as of the agent's
	// last health poll; absent from agents that do not poll health.
	Devices []DeviceHealth `json:"devices,omitempty"`
}

// DeviceHealth is one device's health as its agent last polled it (see
// docs/faults.md for levels and codes).
type DeviceHealth struct {
	Index   int  `json:"index"`
	Healthy bool `json:"healthy"` // false: the device should get no new work
	// Level is the most severe fault level in force: "ignore",
	// "restart-job", "drain-device", "reset-device", "isolate-device",
	// "isolate-node"; empty when the device reports no fault.
	Level string `json:"level,omitempty"`
	// Codes are the fault codes the device reports now, e.g. "xid:48",
	// "npu-smi:Alarm", "fake:reset-device".
	Codes  []string `json:"codes,omitempty"`
	Reason string   `json:"reason,omitempty"` // what decided Level, in words
}

// Fault levels of DeviceHealth.Level, least severe first.
const (
	FaultIgnore        = "ignore"
	FaultRestartJob    = "restart-job"
	FaultDrainDevice   = "drain-device"
	FaultResetDevice   = "reset-device"
	FaultIsolateDevice = "isolate-device"
	FaultIsolateNode   = "isolate-node"
)

// How a rank ended, in RankReport.Reason.
const (
	RankEndExit        = "exit"               // the command exited; ExitCode says how
	RankEndSignal      = "signal"             // killed by a signal; Signal and SignalNumber say which
	RankEndGroupGone   = "process-group-gone" // the rank's processes vanished without a status (e.g. SIGKILL of the shim)
	RankEndStartFailed = "start-failed"       // the agent could not start it; ExitCode is 126 or 127
)

// RankReport is an agent's view of one rank.
type RankReport struct {
	JobID    string `json:"job_id"`
	Attempt  int    `json:"attempt"`
	Rank     int    `json:"rank"`
	State    string `json:"state"`
	PID      int    `json:"pid,omitempty"`
	ExitCode *int   `json:"exit_code,omitempty"`
	Signal   string `json:"signal,omitempty"`
	// SignalNumber is Signal's number (9 for SIGKILL).
	SignalNumber int `json:"signal_number,omitempty"`
	// Reason says how an exited rank ended: RankEndExit, RankEndSignal,
	// RankEndGroupGone or RankEndStartFailed.
	Reason string `json:"reason,omitempty"`
}

// HeartbeatResponse lists every rank the node should be running now.
type HeartbeatResponse struct {
	Assignments []Assignment `json:"assignments"`
	// HeartbeatInterval is how often the server wants heartbeats.
	HeartbeatInterval Duration `json:"heartbeat_interval"`
}

// Assignment is one rank to run.
type Assignment struct {
	JobID         string            `json:"job_id"`
	Attempt       int               `json:"attempt"`
	Rank          int               `json:"rank"`
	Command       []string          `json:"command"`
	Args          []string          `json:"args,omitempty"`
	Env           map[string]string `json:"env"` // includes MASTER_ADDR, RANK, WORLD_SIZE, *_VISIBLE_DEVICES …
	Workdir       string            `json:"workdir,omitempty"`
	CheckpointDir string            `json:"checkpoint_dir,omitempty"`
	Devices       []int             `json:"devices"`
	Grace         Duration          `json:"grace"` // SIGTERM to SIGKILL
	// Files maps a file name to its content, written into the rank's
	// working directory before start (e.g. "hccl.json").
	Files map[string]string `json:"files,omitempty"`
}

// Queue is a tenant queue and its usage.
type Queue struct {
	Name       string           `json:"name"`
	Parent     string           `json:"parent,omitempty"`
	Weight     float64          `json:"weight"`
	Guaranteed map[string]int64 `json:"guaranteed_milli,omitempty"`
	InUse      map[string]int64 `json:"in_use_milli,omitempty"`
	Pending    int              `json:"pending"`
	Running    int              `json:"running"`
	// UsageChipSeconds is the queue's decayed historical usage (chips ×
	// seconds, halving every fairShare.halfLife of the profile) as of the
	// last scheduling cycle; absent without fair-share history.
	UsageChipSeconds float64 `json:"usage_chip_seconds,omitempty"`
}

// QueueList is the answer of GET /v1/queues.
type QueueList struct {
	Queues []Queue `json:"queues"`
}

// Error codes.
const (
	CodeBadData     = "bad_data"
	CodeNotFound    = "not_found"
	CodeConflict    = "conflict"
	CodeGone        = "gone"
	CodeTooLarge    = "too_large"
	CodeUnavailable = "unavailable"
	CodeInternal    = "internal"
)

// Error is the body of every error response.
type Error struct {
	Code     string    `json:"code"`
	Message  string    `json:"message"`
	Problems []Problem `json:"problems,omitempty"`
}

func (e *Error) Error() string {
	s := e.Code + ": " + e.Message
	for _, p := range e.Problems {
		s += "\n" + p.String()
	}
	return s
}

// Problem is one invalid field of a request.
type Problem struct {
	Field   string `json:"field,omitempty"`
	Line    int    `json:"line,omitempty"`
	Column  int    `json:"column,omitempty"`
	Message string `json:"message"`
}

func (p Problem) String() string {
	if p.Field == "" {
		return p.Message
	}
	return p.Field + ": " + p.Message
}

// Duration is a time.Duration written as "1m30s" in JSON.
type Duration time.Duration

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads a duration string such as "30s".
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}
