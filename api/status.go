package api

import "net/http"

// codeStatus is the one table between error codes and HTTP statuses: the
// server answers an *Error with HTTPStatus(e.Code), and the client reads a
// status that came without an Error body (a proxy's answer, say) back into
// a code with it. CodeInternal is the fallback both ways.
var codeStatus = []struct {
	code   string
	status int
}{
	{CodeBadData, http.StatusBadRequest},
	{CodeNotFound, http.StatusNotFound},
	{CodeConflict, http.StatusConflict},
	{CodeGone, http.StatusGone},
	{CodeTooLarge, http.StatusRequestEntityTooLarge},
	{CodeUnavailable, http.StatusServiceUnavailable},
	{CodeNotLeader, http.StatusMisdirectedRequest},
	{CodeUnauthorized, http.StatusUnauthorized},
	{CodeForbidden, http.StatusForbidden},
	{CodeTooManyRequests, http.StatusTooManyRequests},
	{CodeInternal, http.StatusInternalServerError},
}

// HTTPStatus returns the HTTP status an error with this code is answered
// with; an unknown code is an internal error (500).
func HTTPStatus(code string) int {
	for _, cs := range codeStatus {
		if cs.code == code {
			return cs.status
		}
	}
	return http.StatusInternalServerError
}

// codeOf maps a status without an Error body back to a code; a status the
// table does not name is CodeInternal.
func codeOf(status int) string {
	for _, cs := range codeStatus {
		if cs.status == status {
			return cs.code
		}
	}
	return CodeInternal
}
