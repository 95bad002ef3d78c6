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
	// Cordoned: the node gets no new work (qun node cordon or drain, or
	// the server after repeated faults); CordonReason says why.
	Cordoned     bool   `json:"cordoned,omitempty"`
	CordonReason string `json:"cordon_reason,omitempty"`
}

// CordonRequest is the body of POST /v1/nodes/{name}/cordon and /drain.
type CordonRequest struct {
	Reason string `json:"reason,omitempty"`
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
	// Epoch is the fencing epoch of the server that answered: the term of
	// an HA cluster's leader, increasing with every new leader; 0 for a
	// single server. Agents ignore answers older than the newest epoch
	// they have seen, so a deposed leader can change nothing.
	Epoch int64 `json:"epoch,omitempty"`
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
	// RunAs is the user the rank runs as (its queue's runAs); nil: the
	// agent's --run-as.
	RunAs *RunAs `json:"run_as,omitempty"`
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
	// CodeNotLeader: a server of an HA cluster that is not the leader; the
	// Error's Leader names the leader's API address when one is known.
	CodeNotLeader = "not_leader"
	CodeInternal  = "internal"
)

// Error is the body of every error response.
type Error struct {
	Code     string    `json:"code"`
	Message  string    `json:"message"`
	Problems []Problem `json:"problems,omitempty"`
	// Leader is the API address of the cluster's leader, set on a
	// CodeNotLeader error when the follower knows it.
	Leader string `json:"leader,omitempty"`
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

// PoolMap is the answer of GET /v1/pool/map: one domain and its
// descendants down to Depth levels, each aggregated, so that a pool of
// half a million chips is drawn from a few thousand boxes. Chip states:
// alloc (some of it allocated), down (not allocated, and its host has no
// ready agent or the device reports unhealthy), free (the rest).
type PoolMap struct {
	Pool      string   `json:"pool"`
	Levels    []string `json:"levels"` // level names from the root; MapDomain.Level indexes it
	HostLevel int      `json:"host_level"`
	Depth     int      `json:"depth"`
	// Path lists the domain's ancestors, the root first, then the domain.
	Path   []MapCrumb `json:"path"`
	Domain MapDomain  `json:"domain"`
	// Kinds counts the domain's chips by kind and state.
	Kinds []MapKind `json:"kinds"`
	// LevelStats describes each level from the domain's down to the host
	// level, over the domain's subtree.
	LevelStats []MapLevel `json:"level_stats"`
}

// MapCrumb names one domain of a PoolMap's path.
type MapCrumb struct {
	ID    int    `json:"id"`
	Name  string `json:"name"`
	Level int    `json:"level"`
}

// MapDomain is one domain of a PoolMap, aggregated.
type MapDomain struct {
	ID    int    `json:"id"`
	Name  string `json:"name"` // local name
	Level int    `json:"level"`
	Chips int    `json:"chips"`
	Free  int    `json:"free"`
	Alloc int    `json:"alloc"`
	Down  int    `json:"down"`
	// Largest is the chips of the largest wholly free domain at or below
	// (a single free chip counts 1).
	Largest int `json:"largest_free"`
	// Frag is 1 - Largest/Free: the share of free chips outside the
	// largest free block (0 when nothing or everything is free).
	Frag float64 `json:"frag,omitempty"`
	// Queues and Jobs count allocated chips by queue and by job (the four
	// largest jobs).
	Queues map[string]int `json:"queues,omitempty"`
	Jobs   map[string]int `json:"jobs,omitempty"`
	// More says the domain has children beyond the depth asked.
	More     bool        `json:"more,omitempty"`
	Children []MapDomain `json:"children,omitempty"`
	// ChipList lists the chips of a leaf domain within the depth asked.
	ChipList []MapChip `json:"chip_list,omitempty"`
}

// MapChip is one chip of a leaf domain in a PoolMap.
type MapChip struct {
	Index     int    `json:"i"` // device index on its host
	Kind      string `json:"kind"`
	State     string `json:"state"` // free, alloc or down
	Healthy   bool   `json:"healthy"`
	UsedMilli int    `json:"used_milli,omitempty"`
	Job       string `json:"job,omitempty"`
	Queue     string `json:"queue,omitempty"`
}

// MapKind counts the chips of one kind by state.
type MapKind struct {
	Kind  string `json:"kind"`
	Chips int    `json:"chips"`
	Free  int    `json:"free"`
	Alloc int    `json:"alloc"`
	Down  int    `json:"down"`
}

// MapLevel describes the domains of one level below a PoolMap's domain.
type MapLevel struct {
	Level   string `json:"level"`
	Domains int    `json:"domains"`
	// WhollyFree counts the level's domains with every chip free.
	WhollyFree int `json:"wholly_free"`
	// Fragmentation is the share of free chips that sit in domains of this
	// level that are not wholly free: a gang of a whole domain of the level
	// cannot use them.
	Fragmentation float64 `json:"fragmentation"`
	// LargestGang is, per kind, the most free chips of the kind inside one
	// domain of the level: the largest gang that fits within one domain.
	LargestGang map[string]int `json:"largest_gang"`
}

// JobPlacement is the answer of GET /v1/jobs/{id}/placement: where a job's
// chips are, as pool domain IDs for highlighting on the map, and its
// modelled communication against the lower bound.
type JobPlacement struct {
	JobID string `json:"job_id"`
	// Domains lists every domain holding one of the job's chips, at every
	// level, in ID order; Hosts the host domains among them.
	Domains []int `json:"domains"`
	Hosts   []int `json:"hosts"`
	// Enclosing is the smallest domain holding every chip, or -1.
	Enclosing int `json:"enclosing"`
	// Chips lists the chips in rank order.
	Chips []PlacedChip `json:"chips"`
	// Comm is the modelled communication of one step; absent for a job
	// without placement or whose ranks do not communicate.
	Comm *CommModel `json:"comm,omitempty"`
}

// PlacedChip is one chip of a placement.
type PlacedChip struct {
	Rank   int    `json:"rank"`
	Host   int    `json:"host"` // domain ID
	Leaf   int    `json:"leaf"` // domain ID of the leaf domain holding the chip
	Node   string `json:"node"`
	Device int    `json:"device"`
}

// CommModel is a placement's modelled step communication beside its lower
// bound (the same gang in the best domain of an empty pool).
type CommModel struct {
	Plan       string           `json:"plan"` // e.g. "tp8 pp1 dp4 ep1"
	Seconds    float64          `json:"step_s"`
	LowerBound float64          `json:"lower_bound_s"`
	Ratio      float64          `json:"ratio"`
	Items      []CommItem       `json:"items"`
	Defaulted  bool             `json:"volumes_defaulted,omitempty"`
	Kind       string           `json:"kind,omitempty"`
	Volumes    map[string]int64 `json:"volumes_bytes,omitempty"`
}

// CommItem is one collective of a CommModel: where and how long it runs
// placed as it is, and in its lower bound.
type CommItem struct {
	Collective   string  `json:"collective"`
	Algorithm    string  `json:"algorithm"`
	Level        string  `json:"level"` // outermost level crossed, "" if none
	Seconds      float64 `json:"s"`
	BoundLevel   string  `json:"bound_level"`
	BoundSeconds float64 `json:"bound_s"`
}

// UsageHistory is the answer of GET /v1/usage/history: chip-hours per
// queue and kind in equal buckets ending now, from the jobs' run intervals
// (a job counts from its start to its end, or now while it runs).
type UsageHistory struct {
	From    time.Time     `json:"from"`
	To      time.Time     `json:"to"`
	Step    Duration      `json:"step"`
	Chips   int           `json:"chips"` // chips of the pool
	Buckets []UsageBucket `json:"buckets"`
	// Totals sums the buckets: chip-hours by queue and kind.
	Totals map[string]map[string]float64 `json:"totals"`
}

// UsageBucket is one interval of a UsageHistory.
type UsageBucket struct {
	Start time.Time `json:"start"`
	// ChipHours by queue, then by kind.
	ChipHours map[string]map[string]float64 `json:"chip_hours"`
	// Utilisation is the chip-hours of the bucket over the pool's chips
	// times the bucket's length.
	Utilisation float64 `json:"utilisation"`
}
