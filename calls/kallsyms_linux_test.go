package calls

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

func TestReadMemoryLayout(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		want       memoryLayout
	}{
		{"randomized", "ffffffff81000000 T _stext\nffffffff8300c0d8 D page_offset_base\nffffffff8300c0e0 D vmemmap_base\nffffffff8300c0e8 D vmalloc_base\n",
			memoryLayout{ready: 2, pageOffset: 0xffffffff8300c0d8, pageArray: 0xffffffff8300c0e0}},
		{"not randomized", "ffffffff81000000 T _stext\nffffffff8300c0e8 D other\n", memoryLayout{ready: 1}},
		// No CONFIG_KALLSYMS_ALL (no data symbols listed) with
		// CONFIG_RANDOMIZE_MEMORY: the constants only where KASLR did
		// not move the text (this machine's kernel, booted directly by
		// its hypervisor); moved, the layout may have moved too.
		{"unlisted, text in place", "ffffffff81000000 T _text\nffffffff81000000 T _stext\nffffffff837abf90 T kernel_randomize_memory\n", memoryLayout{ready: 1}},
		{"unlisted, text moved", "ffffffff9a800000 T _text\nffffffff9a800000 T _stext\nffffffff9cfabf90 T kernel_randomize_memory\n", memoryLayout{}},
		{"unlisted, text hidden", "0000000000000000 T _text\n0000000000000000 T kernel_randomize_memory\n", memoryLayout{}},
		// kptr_restrict: every address reads 0.
		{"hidden", "0000000000000000 T _stext\n0000000000000000 D page_offset_base\n0000000000000000 D vmemmap_base\n", memoryLayout{}},
		{"one of two", "ffffffff8300c0d8 D page_offset_base\n", memoryLayout{}},
		// A function of that name is not the variable.
		{"text symbol", "ffffffff81000000 t vmemmap_base\nffffffff81000010 T page_offset_base\n", memoryLayout{ready: 1}},
		{"module column", "ffffffffc0000000 t page_offset_base\t[mod]\n", memoryLayout{ready: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "kallsyms")
			if err := os.WriteFile(path, []byte(tc.text), 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := readMemoryLayout(path)
			if err != nil || got != tc.want {
				t.Errorf("readMemoryLayout = %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
	if _, err := readMemoryLayout(filepath.Join(t.TempDir(), "none")); err == nil {
		t.Error("a missing file read without an error")
	}
	// This machine's: either layout, never a half-found one.
	if runtime.GOARCH == "amd64" && os.Geteuid() == 0 {
		l, err := readMemoryLayout("/proc/kallsyms")
		if err != nil || l.ready == 0 {
			t.Errorf("/proc/kallsyms: %+v, %v; want a layout (root sees the addresses)", l, err)
		}
	}
}
