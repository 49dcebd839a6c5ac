package report

import (
	"bytes"
	"flag"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// Flags for TestHTMLWrite, which scripts/check-html.sh uses to render a
// capture when the CLI has no --html flag.
var (
	htmlOut     = flag.String("html-out", "", "TestHTMLWrite writes the HTML report of -html-capture here")
	htmlCapture = flag.String("html-capture", "../testdata/handshake.pcap", "the capture TestHTMLWrite renders")
	htmlLang    = flag.String("html-lang", "en", "the language TestHTMLWrite renders in")
)

func TestHTMLWrite(t *testing.T) {
	if *htmlOut == "" {
		t.Skip("writes a report only when -html-out is given (scripts/check-html.sh does)")
	}
	var out bytes.Buffer
	title := "socktrace replay " + filepath.Base(*htmlCapture)
	replayInto(t, *htmlCapture, NewHTML(&out, HTMLOptions{Lang: Lang(*htmlLang), Ephemeral: testEphemeral, Title: title}))
	if err := os.WriteFile(*htmlOut, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// external matches what would make a page fetch something: a URL, a src
// attribute, a stylesheet link, an import or a CSS url().
var external = regexp.MustCompile(`(?i)https?://|\bsrc\s*=|<link\b|@import|url\(`)

// TestHTMLSelfContained renders every test capture in both languages and
// checks that the page stands alone and has what it promises.
func TestHTMLSelfContained(t *testing.T) {
	for _, file := range captures(t) {
		for _, lang := range []Lang{English, Korean} {
			base := filepath.Base(file) // handshake.pcap and handshake.pcapng both exist
			t.Run(base+"/"+string(lang), func(t *testing.T) {
				var out bytes.Buffer
				replayInto(t, file, NewHTML(&out, HTMLOptions{Lang: lang, Ephemeral: testEphemeral}))
				page := out.String()
				if loc := external.FindStringIndex(page); loc != nil {
					t.Errorf("the page refers to something outside itself: %q", page[max(0, loc[0]-40):min(len(page), loc[1]+40)])
				}
				if !strings.HasPrefix(page, "<!DOCTYPE html>\n") || !strings.HasSuffix(page, "</html>\n") {
					t.Errorf("the page is not a whole HTML document")
				}
				if strings.ContainsFunc(page, func(r rune) bool { return r < 0x20 && r != '\n' || r == 0x7f }) {
					t.Errorf("the page has a control character")
				}
				sections := strings.Count(page, "<section id=\"conn-")
				if svgs := strings.Count(page, "<svg class=\"seq\""); svgs != sections {
					t.Errorf("%d connections but %d SVG diagrams", sections, svgs)
				}
				if n := strings.Count(page, "<title>"); n < sections+1 {
					t.Errorf("only %d <title> elements: the steps have no hover details", n)
				}
				if sections > 0 && !strings.Contains(page, "<table class=\"sum\">") {
					t.Errorf("no summary table")
				}
			})
		}
	}
}

// TestHTMLEscapes feeds the page text that HTML would take for markup.
func TestHTMLEscapes(t *testing.T) {
	var out bytes.Buffer
	h := NewHTML(&out, HTMLOptions{Title: `<script>alert("x")</script>`})
	if err := h.Summary(Summary{Dropped: -1}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "<script>") {
		t.Errorf("the title was not escaped:\n%s", out.String())
	}
}

// TestHTMLBrowser renders the report of testdata/handshake.pcap in a real
// browser with scripts/check-html.sh and checks the screenshot: it exists,
// it is a PNG of the window's size, and it is not blank.
func TestHTMLBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a browser; skipped with -short")
	}
	if _, err := exec.LookPath("chromium"); err != nil {
		if _, err := exec.LookPath("chromium-browser"); err != nil {
			t.Skip("chromium is not installed (apt-get install -y chromium): the page is not rendered by a browser")
		}
	}
	capture := "../testdata/handshake.pcap"
	if _, err := os.Stat(capture); err != nil {
		t.Skipf("no %s to render", capture)
	}
	dir := t.TempDir()
	page := filepath.Join(dir, "report.html")
	var out bytes.Buffer
	replayInto(t, capture, NewHTML(&out, HTMLOptions{Ephemeral: testEphemeral, Title: "socktrace replay handshake.pcap"}))
	if err := os.WriteFile(page, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	shot := filepath.Join(dir, "shot.png")
	cmd := exec.Command("../scripts/check-html.sh", "-o", shot, page)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("scripts/check-html.sh: %v\n%s", err, b)
	}
	st, err := os.Stat(shot)
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() < 20<<10 {
		t.Errorf("the screenshot is only %d bytes", st.Size())
	}
	f, err := os.Open(shot)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("the screenshot is not a PNG: %v", err)
	}
	if b := img.Bounds(); b.Dx() != 1200 || b.Dy() != 900 {
		t.Errorf("the screenshot is %dx%d, want 1200x900", b.Dx(), b.Dy())
	}
	colors, inked := pixelVariety(img)
	// A blank or error page has a handful of colours and almost no ink;
	// the report has text, coloured arrows and badges everywhere.
	if colors < 64 {
		t.Errorf("the screenshot has only %d colours: blank?", colors)
	}
	if total := img.Bounds().Dx() * img.Bounds().Dy(); inked < total/50 {
		t.Errorf("only %d of %d pixels are not background: blank?", inked, total)
	}
}

// pixelVariety counts the distinct colours of img and its pixels that are
// not near-white.
func pixelVariety(img image.Image) (colors, inked int) {
	seen := make(map[uint32]bool)
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			r, g, bl = r>>8, g>>8, bl>>8
			seen[r<<16|g<<8|bl] = true
			if r < 235 || g < 235 || bl < 235 {
				inked++
			}
		}
	}
	return len(seen), inked
}
