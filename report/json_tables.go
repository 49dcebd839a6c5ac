package report

import "github.com/socktrace/socktrace/decode"

// The constant stretches of a segment line, made once so that a line is
// built from a few appends instead of a loop over the flags and a quote
// around every name.

// segFromFlags[side][flags] is `,"from":"client","flags":["SYN","ACK"],"seq":`.
var segFromFlags [2][256]string

// segKind[kind] is `,"kind":"data","abs_seq":`.
var segKind [len(stepKindNames)]string

// stateJSON[state] is the state as a JSON value: `"ESTABLISHED"`, or null
// for Unknown.
var stateJSON [decode.TimeWait + 1]string

// stepKindNames are the step kinds in order, as StepKind.String gives them.
var stepKindNames = func() (n [decode.StepRSTIgnored + 1]string) {
	for k := range n {
		n[k] = decode.StepKind(k).String()
	}
	return n
}()

// jsonFlagOrder is the order the schema lists flags in.
var jsonFlagOrder = [...]decode.Flags{decode.SYN, decode.ACK, decode.FIN, decode.RST, decode.PSH, decode.URG, decode.ECE, decode.CWR}

func init() {
	for side := range segFromFlags {
		for f := range segFromFlags[side] {
			b := append([]byte(`,"from":"`), decode.Side(side).String()...)
			b = append(b, `","flags":[`...)
			first := true
			for _, x := range jsonFlagOrder {
				if decode.Flags(f)&x != 0 {
					if !first {
						b = append(b, ',')
					}
					first = false
					b = append(append(append(b, '"'), x.Name()...), '"')
				}
			}
			segFromFlags[side][f] = string(append(b, `],"seq":`...))
		}
	}
	for k, name := range stepKindNames {
		segKind[k] = `,"kind":"` + name + `","abs_seq":`
	}
	for s := range stateJSON {
		stateJSON[s] = `"` + decode.State(s).String() + `"`
	}
	stateJSON[decode.Unknown] = "null"
}

// fromFlags is the stretch of a segment line from "from" to "seq":. Only
// the eight flags the schema names exist; a side that is not the client
// is the server, as Side.String says.
func fromFlags(from decode.Side, f decode.Flags) string {
	side := 0
	if from != decode.Client {
		side = 1
	}
	return segFromFlags[side][f&0xff]
}

// kindField is the stretch of a segment line from "kind" to "abs_seq":.
func kindField(k decode.StepKind) string {
	if int(k) < len(segKind) {
		return segKind[k]
	}
	return `,"kind":"` + k.String() + `","abs_seq":`
}
