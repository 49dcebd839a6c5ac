package report

import (
	"regexp"
	"slices"
	"strings"
	"testing"
)

// verbRE matches a fmt verb with its flags, width, precision and explicit
// argument index; %% is matched too and dropped by verbs.
var verbRE = regexp.MustCompile(`%(\[\d+\])?[-+# 0]*(\[\d+\]\*|\*|\d+)?(\.(\[\d+\]\*|\*|\d+)?)?(\[\d+\])?[a-zA-Z%]`)

// verbs lists the fmt verbs of a message in order.
func verbs(s string) []string {
	var out []string
	for _, v := range verbRE.FindAllString(s, -1) {
		if v != "%%" {
			out = append(out, v)
		}
	}
	return out
}

// TestCatalogsComplete fails when a message exists in one language and not
// in another, so that no one reads English in the middle of Korean.
func TestCatalogsComplete(t *testing.T) {
	for lang, cat := range catalogs {
		if lang == English {
			continue
		}
		for id := range english {
			if _, ok := cat[id]; !ok {
				t.Errorf("%s: message %q is missing (English: %q)", lang, id, english[id])
			}
		}
		for id := range cat {
			if _, ok := english[id]; !ok {
				t.Errorf("%s: message %q has no English original", lang, id)
			}
		}
	}
}

// TestCatalogsVerbs fails when a translation's fmt verbs differ from the
// English ones, in kind or in order: the callers pass the same arguments
// to every language.
func TestCatalogsVerbs(t *testing.T) {
	for lang, cat := range catalogs {
		for id, s := range cat {
			en, ok := english[id]
			if !ok {
				continue // reported by TestCatalogsComplete
			}
			if got, want := verbs(s), verbs(en); !slices.Equal(got, want) {
				t.Errorf("%s: message %q has verbs %v, English has %v", lang, id, got, want)
			}
		}
	}
}

// TestCatalogsClean keeps control characters and stray whitespace out of
// the messages: they are written to terminals and wrapped by words.
func TestCatalogsClean(t *testing.T) {
	for lang, cat := range catalogs {
		for id, s := range cat {
			if strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
				t.Errorf("%s: message %q has a control character", lang, id)
			}
			if strings.Contains(s, "  ") {
				t.Errorf("%s: message %q has a double space", lang, id)
			}
		}
	}
}

func TestVerbs(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []string
	}{
		{"port %d is in the range (%d–%d)", []string{"%d", "%d", "%d"}},
		{"100%% of %-8s and %[2]q, %6.2f", []string{"%-8s", "%[2]q", "%6.2f"}},
		{"no verbs", nil},
	} {
		if got := verbs(c.in); !slices.Equal(got, c.want) {
			t.Errorf("verbs(%q) = %v, want %v", c.in, got, c.want)
		}
	}
}
