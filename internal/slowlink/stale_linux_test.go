package slowlink

import (
	"fmt"
	"os"
	"os/exec"
	"sync"
	"testing"
)

// TestCleanStaleConcurrently: two runs removing the same stale namespaces
// at once both succeed: a namespace another run removed first is not an
// error (a demo over --rtt once failed with "Cannot remove namespace
// file").
func TestCleanStaleConcurrently(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to make network namespaces")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs ip")
	}
	for round := range 5 {
		// A pid that is gone: a process that ran and was waited for.
		gone := exec.Command("true")
		if err := gone.Run(); err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, side := range []string{"client", "server"} {
			name := fmt.Sprintf("%s%d-%s", Prefix, gone.Process.Pid, side)
			if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
				t.Fatalf("ip netns add %s: %v: %s", name, err, out)
			}
			names = append(names, name)
		}
		var wg sync.WaitGroup
		errs := make([]error, 4)
		for i := range errs {
			wg.Go(func() { errs[i] = CleanStale() })
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("round %d, cleaner %d: %v", round, i, err)
			}
		}
		for _, name := range names {
			if _, err := os.Stat(netnsDir + "/" + name); err == nil {
				t.Errorf("%s is still there", name)
				exec.Command("ip", "netns", "del", name).Run()
			}
		}
	}
}
