package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"

	"github.com/qunhq/qun/api"
)

// This file is the one place where errors become HTTP answers; the code ↔
// status table itself is api.HTTPStatus, shared with the client.

// errorf returns an *api.Error with the code and a formatted message.
func errorf(code, format string, args ...any) *api.Error {
	return &api.Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// errClosed is returned once the server has begun shutting down.
var errClosed = errorf(api.CodeUnavailable, "the server is shutting down")

// toAPIError turns any error into an *api.Error. Errors that are not
// already api errors are internal, except body-size and decoding errors.
func toAPIError(err error) *api.Error {
	var ae *api.Error
	if errors.As(err, &ae) {
		return ae
	}
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return errorf(api.CodeTooLarge, "request body is larger than %d bytes", tooBig.Limit)
	}
	return errorf(api.CodeInternal, "%v", err)
}

// writeError answers with err as an api.Error body and its status.
func writeError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	ae := toAPIError(err)
	status := api.HTTPStatus(ae.Code)
	if status >= 500 && ae.Code != api.CodeUnavailable {
		log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	writeJSON(w, status, ae)
}

// writeJSON answers with v as JSON.
func writeJSON(w http.ResponseWriter, status int, v any) {
	buf := answerBufs.Get().(*bytes.Buffer)
	defer func() {
		if buf.Cap() <= 64<<10 { // a long list's buffer is not kept
			answerBufs.Put(buf)
		}
	}()
	buf.Reset()
	if err := json.NewEncoder(buf).Encode(v); err != nil { // as json.Marshal, and a newline
		status = http.StatusInternalServerError
		buf.Reset()
		json.NewEncoder(buf).Encode(errorf(api.CodeInternal, "encoding the answer: %v", err))
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// answerBufs holds the buffers answers are encoded in.
var answerBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// Request size limits.
const (
	maxSpecBytes    = 1 << 20  // a job spec
	maxRequestBytes = 4 << 20  // registrations and heartbeats
	maxLogBytes     = 16 << 20 // one log append
)

// readBody reads a request's body of at most limit bytes, in one buffer
// of its announced length when it has one.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	if n := r.ContentLength; n >= 0 && n <= limit {
		buf := make([]byte, n) // net/http holds the body to its announced length
		_, err := io.ReadFull(r.Body, buf)
		return buf, err
	}
	return io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
}

// decodeStrict decodes one JSON value from data into v, rejecting unknown
// fields and trailing data.
func decodeStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return badJSON(err)
	}
	if dec.More() {
		return &api.Error{Code: api.CodeBadData, Message: "invalid JSON", Problems: []api.Problem{{Message: "more than one JSON value; one expected"}}}
	}
	var extra json.RawMessage
	if err := dec.Decode(&extra); err != io.EOF {
		return &api.Error{Code: api.CodeBadData, Message: "invalid JSON", Problems: []api.Problem{{Message: "trailing data after the JSON value"}}}
	}
	return nil
}

// badJSON describes a JSON decoding error as a bad_data problem.
func badJSON(err error) *api.Error {
	p := api.Problem{Message: err.Error()}
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.Is(err, io.EOF):
		p.Message = "the body is empty; a JSON object is expected"
	case errors.As(err, &se):
		p.Message = fmt.Sprintf("syntax error at byte %d: %v", se.Offset, se)
	case errors.As(err, &te):
		p.Field = te.Field
		p.Message = fmt.Sprintf("cannot be a JSON %s (want %s)", te.Value, te.Type)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		p.Field = name
		p.Message = "unknown field"
	default:
		p.Message = strings.TrimPrefix(err.Error(), "json: ")
	}
	return &api.Error{Code: api.CodeBadData, Message: "invalid JSON", Problems: []api.Problem{p}}
}
