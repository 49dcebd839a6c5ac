package report

import (
	"encoding/json"
	"testing"

	"github.com/socktrace/socktrace/decode"
)

// TestJSONOwnersUnknownUser: a process whose user was never read (it had
// exited before /proc was) has uid and user null, not uid 0, which would
// say root; a known one has both. The line stays valid JSON.
func TestJSONOwnersUnknownUser(t *testing.T) {
	owners := [2]decode.Owner{
		decode.Client: {PID: 4314, Comm: "curl"},
		decode.Server: {PID: 17, Comm: "python3", UID: 1000, User: "alice"},
	}
	b := appendOwners([]byte("{"), &owners)
	b = append(b[:1], b[2:]...) // drop the leading comma
	b = append(b, '}')
	var got struct {
		Processes map[string]map[string]any `json:"processes"`
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	c, s := got.Processes["client"], got.Processes["server"]
	if c["uid"] != nil || c["user"] != nil || c["comm"] != "curl" {
		t.Errorf("client %v: want uid and user null", c)
	}
	if s["uid"] != float64(1000) || s["user"] != "alice" {
		t.Errorf("server %v: want uid 1000, user alice", s)
	}
}
