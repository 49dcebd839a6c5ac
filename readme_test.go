package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// readmeJSONTypes are the line types the README's JSON section describes,
// each in a paragraph that begins with the type's name.
var readmeJSONTypes = []string{"segment", "call", "datagram", "connection", "summary"}

// readmeJSONSection returns the README's "## JSON" section, and the text
// describing each line type: from "`TYPE` —" to the next type's paragraph.
func readmeJSONSection(t *testing.T) (string, map[string]string) {
	t.Helper()
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "\n## JSON\n")
	if !ok {
		t.Fatal("README.md has no \"## JSON\" section")
	}
	if end := strings.Index(section, "\n## "); end >= 0 {
		section = section[:end]
	}
	starts := map[string]int{}
	for _, typ := range readmeJSONTypes {
		i := strings.Index(section, "\n`"+typ+"` —")
		if i < 0 {
			t.Fatalf("README's JSON section has no paragraph for %q lines", typ)
		}
		starts[typ] = i
	}
	byType := map[string]string{}
	for _, typ := range readmeJSONTypes {
		end := len(section)
		for _, other := range readmeJSONTypes {
			if s := starts[other]; s > starts[typ] && s < end {
				end = s
			}
		}
		byType[typ] = section[starts[typ]:end]
	}
	return section, byType
}

// readmeNames finds a field in README text: `name`, "name" (in an example
// object) or a cell of a table's first column ("| a, b |").
func readmeNames(text string) map[string]bool {
	names := map[string]bool{}
	for _, m := range regexp.MustCompile("[`\"]([a-z_0-9]+)[`\"]").FindAllStringSubmatch(text, -1) {
		names[m[1]] = true
	}
	for _, line := range strings.Split(text, "\n") {
		if cells := strings.Split(line, "|"); len(cells) > 2 && strings.TrimSpace(cells[0]) == "" {
			for _, name := range strings.Split(cells[1], ",") {
				names[strings.TrimSpace(name)] = true
			}
		}
	}
	return names
}

// TestReadmeJSONSchema: the README's JSON section, the schema users
// program against, names every field --format json really writes, under
// the paragraph of its line type: replayed from every capture in
// testdata/ (and tcpdump's test captures when they are beside the
// repository), fields inside objects (tunnel, quoted, states) included.
// Fields only live runs write (processes, kernel, left_out) and ones no
// capture here provokes (late, resumed) are checked by name against what
// the JSON writer can write at all (report/json*.go): each must be
// somewhere in the section.
func TestReadmeJSONSchema(t *testing.T) {
	section, byType := readmeJSONSection(t)
	documented := map[string]map[string]bool{}
	for typ, text := range byType {
		documented[typ] = readmeNames(text)
	}

	var files []string
	for _, pattern := range []string{"testdata/*.pcap*", "testdata/crafted/*.pcap*", "report/testdata/*.pcap*", "../shared/captures/tcpdump-tests/*"} {
		m, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	if len(files) < 20 {
		t.Fatalf("only %d captures found", len(files))
	}
	emitted := map[string]map[string]string{} // type → field → a file that wrote it
	// The values of the connection's enumerated fields, each a public
	// word: value → a file that wrote it.
	enumValues := map[string]map[string]string{"handshake": {}, "close": {}}
	for _, path := range files {
		var out, errOut bytes.Buffer
		run([]string{"socktrace", "replay", "--format", "json", path}, &out, &errOut)
		for _, line := range bytes.Split(out.Bytes(), []byte("\n")) {
			var obj map[string]any
			if len(line) == 0 || json.Unmarshal(line, &obj) != nil {
				continue
			}
			typ, _ := obj["type"].(string)
			if typ == "connection" {
				for field, vals := range enumValues {
					if v, ok := obj[field].(string); ok {
						vals[v] = path
					}
				}
			}
			if emitted[typ] == nil {
				emitted[typ] = map[string]string{}
			}
			for k, v := range obj {
				emitted[typ][k] = path
				if inner, ok := v.(map[string]any); ok {
					for k2 := range inner {
						emitted[typ][k+"."+k2] = path
					}
				}
			}
		}
	}
	for typ, fields := range emitted {
		if documented[typ] == nil {
			t.Errorf("lines of type %q are written (%v) but the README's JSON section has no paragraph for them", typ, fields)
			continue
		}
		var missing []string
		for field, path := range fields {
			name := field[strings.LastIndex(field, ".")+1:]
			if field == "type" || documented[typ][name] {
				continue
			}
			missing = append(missing, field+" (in "+filepath.Base(path)+")")
		}
		sort.Strings(missing)
		for _, m := range missing {
			t.Errorf("%s lines have the field %s, which README's JSON section does not list under `%s`", typ, m, typ)
		}
	}
	for field, vals := range enumValues {
		row := regexp.MustCompile(`(?m)^\| ` + field + ` \| (.*) \|$`).FindStringSubmatch(byType["connection"])
		if row == nil {
			t.Errorf("README's connection table has no row for %s", field)
			continue
		}
		listed := map[string]bool{}
		for _, w := range strings.Split(row[1], ", ") {
			listed[w] = true
		}
		for v, path := range vals {
			if !listed[v] {
				t.Errorf("connection lines say %s %q (in %s), which README's %s row does not list", field, v, filepath.Base(path), field)
			}
		}
	}
	for _, typ := range readmeJSONTypes {
		if len(emitted[typ]) == 0 && typ != "call" {
			t.Errorf("no capture wrote a %q line: the test no longer sees the schema", typ)
		}
	}

	// Every field name the writer has, live-only ones included.
	all := readmeNames(section)
	sources, err := filepath.Glob("report/json*.go")
	if err != nil {
		t.Fatal(err)
	}
	written := map[string]string{}
	for _, src := range sources {
		if strings.HasSuffix(src, "_test.go") {
			continue
		}
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range regexp.MustCompile(`"([a-z_0-9]+)":`).FindAllSubmatch(b, -1) {
			written[string(m[1])] = src
		}
	}
	if len(written) < 50 {
		t.Fatalf("only %d field names found in %v: has the writer moved?", len(written), sources)
	}
	for name, src := range written {
		if !all[name] {
			t.Errorf("%s writes the field %q, which README's JSON section never names", src, name)
		}
	}
}

// TestReadmeMentionsEveryFlag: every flag each command's --help lists,
// long and short name, is named somewhere in the README, so that a user
// reading it learns of each.
func TestReadmeMentionsEveryFlag(t *testing.T) {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	seen := 0
	for _, cmd := range []string{"", "replay", "watch", "run", "scenarios"} {
		args := []string{"socktrace", "--help"}
		if cmd != "" {
			args = []string{"socktrace", cmd, "--help"}
		}
		var out, errOut bytes.Buffer
		if code := run(args, &out, &errOut); code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, errOut.String())
		}
		_, options, ok := strings.Cut(out.String(), "OPTIONS:\n")
		if !ok {
			t.Fatalf("%v prints no OPTIONS:\n%s", args, out.String())
		}
		for _, line := range strings.Split(options, "\n") {
			line = strings.TrimSpace(line)
			if !strings.HasPrefix(line, "-") {
				continue
			}
			names, _, _ := strings.Cut(line, "  ") // the names, then the usage text
			for _, name := range strings.Split(names, ", ") {
				flag, _, _ := strings.Cut(name, " ") // "--iface IF" → "--iface"
				seen++
				if !regexp.MustCompile(`(^|[^a-z0-9-])` + regexp.QuoteMeta(flag) + `([^a-z0-9-]|$)`).MatchString(readme) {
					t.Errorf("socktrace %s --help lists %s, which the README never names", cmd, flag)
				}
			}
		}
	}
	if seen < 30 {
		t.Errorf("only %d flags found in the --help texts: has their layout changed?", seen)
	}
}
