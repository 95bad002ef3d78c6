package agent

import (
	"context"

	"github.com/qunhq/qun/api"
)

// Server is the part of the server's API an agent uses. Errors the server
// answers with are *api.Error; anything else (refused connection, timeout)
// is a transport error. Implementations are safe for concurrent use.
type Server interface {
	// Register registers (or re-registers) the node.
	Register(ctx context.Context, req api.RegisterRequest) (*api.Node, error)
	// Heartbeat reports the node's ranks and returns its assignments.
	Heartbeat(ctx context.Context, node string, req api.HeartbeatRequest) (*api.HeartbeatResponse, error)
	// AppendLog appends data to one stream ("stdout" or "stderr") of one
	// rank of one attempt of a job.
	AppendLog(ctx context.Context, jobID string, attempt, rank int, stream string, data []byte) error
}

// ClientServer is the Server behind an *api.Client.
type ClientServer struct{ C *api.Client }

var _ Server = ClientServer{}

// Register implements Server.
func (s ClientServer) Register(ctx context.Context, req api.RegisterRequest) (*api.Node, error) {
	return s.C.RegisterNode(ctx, req)
}

// Heartbeat implements Server.
func (s ClientServer) Heartbeat(ctx context.Context, node string, req api.HeartbeatRequest) (*api.HeartbeatResponse, error) {
	return s.C.Heartbeat(ctx, node, req)
}

// AppendLog implements Server.
func (s ClientServer) AppendLog(ctx context.Context, jobID string, attempt, rank int, stream string, data []byte) error {
	return s.C.AppendLogs(ctx, jobID, api.LogOptions{Rank: rank, Attempt: attempt, Stream: stream}, data)
}

// errorCode returns the api.Error code of err, or "" for transport errors.
func errorCode(err error) string { return api.ErrorCode(err) }
