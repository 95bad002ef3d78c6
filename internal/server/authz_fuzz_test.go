package server

import (
	"encoding/json"
	"testing"

	"github.com/qunhq/qun/api"
	"github.com/qunhq/qun/internal/auth"
)

// FuzzDecodeEnrol checks that the enrolment request decoder never panics
// and either accepts a request with a token, a node name and a parsable
// certificate request, or answers bad_data with problems.
func FuzzDecodeEnrol(f *testing.F) {
	_, csr, err := auth.NewKeyAndCSR("n0")
	if err != nil {
		f.Fatal(err)
	}
	good, _ := json.Marshal(api.EnrolRequest{Token: "qunjoin1.x", Node: "n0", CSR: string(csr)})
	f.Add(good)
	f.Add([]byte(`{"token":"","node":"","csr":""}`))
	f.Add([]byte(`{"token":"t","node":"n","csr":"-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n"}`))
	f.Add([]byte(`{"token":1}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		req, err := DecodeEnrol(data)
		if err != nil {
			badData(t, err)
			return
		}
		if req.Token == "" || req.Node == "" || len(req.Node) > 253 {
			t.Fatalf("accepted %+v", req)
		}
		if _, err := auth.ParseCSRPEM([]byte(req.CSR)); err != nil {
			t.Fatalf("accepted a request whose CSR does not parse: %v", err)
		}
	})
}
