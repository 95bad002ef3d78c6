// Package web is Qun's dashboard: static HTML, CSS and plain JavaScript,
// embedded in the binary and served by the server at /. The pages talk
// only to the public JSON API (/v1/...) and fetch nothing else: the
// Content-Security-Policy allows the server's own origin only. There is no
// build step; edit the files under static/ and rebuild qun.
package web

import (
	"embed"
	"io/fs"
	"net/http"
	"strings"
)

//go:embed static
var static embed.FS

// Files returns the dashboard's files (index.html, app.js, app.css).
func Files() fs.FS {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // not reachable: the directory is embedded
	}
	return sub
}

// Handler serves the dashboard: index.html at / and the other files under
// /ui/.
func Handler() http.Handler {
	files := http.FileServerFS(Files())
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; connect-src 'self'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Cache-Control", "no-cache")
		r2 := r.Clone(r.Context())
		switch {
		case r.URL.Path == "/":
			r2.URL.Path = "/"
		case strings.HasPrefix(r.URL.Path, "/ui/"):
			r2.URL.Path = strings.TrimPrefix(r.URL.Path, "/ui")
		default:
			http.NotFound(w, r)
			return
		}
		files.ServeHTTP(w, r2)
	})
}
