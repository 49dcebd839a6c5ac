package neutral

// Hostile are the strings every output of socktrace is tested with: escape
// sequences a terminal obeys (set the title, write the clipboard with OSC
// 52, clear the screen), a C1 CSI both as a code point and as a raw byte,
// bidi overrides, and bytes that are not UTF-8.
var Hostile = []string{
	"\x1b]0;pwned\x07",
	"\x1b]52;c;cHduZWQ=\x07",
	"\x1b[2J",
	"\u009b31m",
	"\x9b31m",
	"evil\u202egnp.exe",
	"\u2066iso\u2069",
	"nul\x00byte",
	"line\nbreak\rreturn\ttab",
	"del\x7f",
	"\xff\xfe",
	"zero\u200bwidth",
	"line\u2028sep",
}
