package api

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestFramesRoundTrip(t *testing.T) {
	var buf []byte
	buf = AppendFrame(buf, FramePing)
	buf = AppendFrame(buf, FrameReport, []byte{0, 0, 0, 0, 0, 0, 0, 7}, []byte(`{"boot_id":"b"}`))
	files := map[string]string{"hccl.json": strings.Repeat(`{"device_id":"0"},`, 1000)}
	buf, err := AppendFilesFrame(buf, "j-000001/0/1", files)
	if err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(bytes.NewReader(buf))
	var scratch []byte
	for _, want := range []struct {
		typ  byte
		body string
	}{{FramePing, ""}, {FrameReport, "\x00\x00\x00\x00\x00\x00\x00\x07{\"boot_id\":\"b\"}"}} {
		typ, p, err := ReadFrame(r, MaxStreamFrame, &scratch)
		if err != nil || typ != want.typ || string(p) != want.body {
			t.Fatalf("frame %q %q %v, want %q %q", typ, p, err, want.typ, want.body)
		}
	}
	typ, p, err := ReadFrame(r, MaxStreamFrame, &scratch)
	if err != nil || typ != FrameFiles {
		t.Fatalf("frame %q %v, want files", typ, err)
	}
	if len(p) > 2000 {
		t.Errorf("files frame of %d bytes for 18 KB of repeated JSON: not compressed", len(p))
	}
	ref, got, err := ParseFilesFrame(p, 1<<20)
	if err != nil || ref != "j-000001/0/1" || !cmp.Equal(got, files) {
		t.Fatalf("files %q %v, want the reference and the map back", ref, err)
	}
	if _, _, err := ParseFilesFrame(p, 100); err == nil {
		t.Error("a files frame above its uncompressed limit was accepted")
	}
	if _, _, err := ReadFrame(r, MaxStreamFrame, &scratch); !errors.Is(err, io.EOF) {
		t.Errorf("after the last frame: %v, want EOF", err)
	}
}

func TestReadFrameRefuses(t *testing.T) {
	for name, in := range map[string][]byte{
		"empty frame": {0, 0, 0, 0},
		"too large":   {0, 0x10, 0, 0, 'p'},
		"truncated":   {0, 0, 0, 5, 'r', 1},
	} {
		var scratch []byte
		if _, _, err := ReadFrame(bufio.NewReader(bytes.NewReader(in)), 1<<16, &scratch); err == nil || errors.Is(err, io.EOF) {
			t.Errorf("%s: %v, want an error that is not EOF", name, err)
		}
	}
}

// FuzzStreamFrames reads arbitrary bytes as frames, and every files frame
// among them: errors, never panics or unbounded allocations.
func FuzzStreamFrames(f *testing.F) {
	good, _ := AppendFilesFrame(AppendFrame(nil, FramePing, []byte("12345678")), "r", map[string]string{"a": "b"})
	f.Add(good)
	f.Add([]byte{0, 0, 0, 0})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bufio.NewReader(bytes.NewReader(data))
		var scratch []byte
		for {
			typ, p, err := ReadFrame(r, 1<<16, &scratch)
			if err != nil {
				return
			}
			if len(p) >= 1<<16 {
				t.Fatalf("payload of %d bytes above the limit", len(p))
			}
			if typ == FrameFiles {
				ParseFilesFrame(p, 1<<20)
			}
		}
	})
}
