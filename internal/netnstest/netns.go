// Package netnstest makes network namespaces for tests: traffic that must
// not reach the host's own settings (Fast Open's server side, a flood)
// goes on in one of the test's own.
package netnstest

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"
)

// New makes a network namespace with lo up and the given sysctls set
// ("net.ipv4.tcp_fastopen=3"), deleted when the test ends, and returns its
// name. It skips the test where the ip command (iproute2) is missing. A new
// namespace each call: one keeps state between connections (Fast Open's
// cookies, TIME_WAIT).
func New(tb testing.TB, prefix string, sysctls ...string) string {
	tb.Helper()
	if _, err := exec.LookPath("ip"); err != nil {
		tb.Skip("the ip command (iproute2) is needed to make a network namespace")
	}
	ns := fmt.Sprintf("%s-%d-%d", prefix, os.Getpid(), time.Now().UnixNano()%1e6)
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		tb.Fatalf("ip netns add %s: %v: %s", ns, err, out)
	}
	tb.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	steps := [][]string{{"-n", ns, "link", "set", "lo", "up"}}
	for _, s := range sysctls {
		steps = append(steps, []string{"netns", "exec", ns, "sysctl", "-qw", s})
	}
	for _, args := range steps {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			tb.Fatalf("ip %v: %v: %s", args, err, out)
		}
	}
	return ns
}
