package report

// diagramEnglish holds the English messages of the diagram and the HTML
// report. They live beside the features that use them and join the English
// catalog at init; their Korean counterparts are in messages_ko.go with
// every other Korean message.
var diagramEnglish = map[msgID]string{
	"diagram.legend":        "Time counts from each connection's first event. Each arrow is a segment: its flags, relative seq and ack, and payload length. A side's margin shows its socket calls where they happen and each TCP state it enters; a bracket beside a lifeline is a call that blocks until it returns. Calls marked * were not seen: the segments imply them.",
	"diagram.time":          "time",
	"diagram.connected":     "connected",
	"diagram.returns":       "returns %d",
	"diagram.fails":         "fails %s",
	"diagram.via":           "via %s",
	"diagram.self.sends":    "socket (sends)",
	"diagram.self.receives": "socket (receives)",
	"diagram.calls.omitted": "… %d more calls not drawn",
	"diagram.lanes":         "Connections %s overlap in time: one lane per connection, one row per segment, time from the first.",
	"diagram.lanes.omitted": "(no lane view: it keeps at most %d connections and %d segments)",

	"html.title":         "socktrace report",
	"html.hover":         "Hover over an arrow or a call to see its details.",
	"html.legend":        "Time counts from each connection's first event. Each arrow is a segment — its flags, relative seq and ack, and payload length — coloured by kind: SYN green, FIN amber, RST red, data blue, bare ACKs grey. A side's margin shows its socket calls where they happen and each TCP state it enters; a bar on a lifeline is a call that blocks until it returns. Calls marked * were not seen: the segments imply them.",
	"html.col.conn":      "connection",
	"html.col.opened":    "opened",
	"html.col.closed":    "closed",
	"html.col.packets":   "packets",
	"html.col.c2s":       "bytes client → server",
	"html.col.s2c":       "bytes server → client",
	"html.col.irtt":      "initial RTT",
	"html.col.zeek":      "Zeek conn_state, history",
	"html.lanes":         "Connections %s overlap in time: one lane per connection, its life as a bar, a tick for each segment (hover for details).",
	"html.table.omitted": "… %d more connections not listed",
	"html.seg.head":      "segment %d: %s, %s",
	"html.seg.numbers":   "relative seq %d, ack %d; absolute seq %d, ack %d; window %d; %d payload bytes",
	"html.seg.time":      "captured at %s (+%s)",
	"html.call.head":     "%s() by the %s",
	"html.call.fd":       "file descriptor %d",
	"html.call.enter":    "entered at %s",
	"html.call.exit":     "returned at %s, after %s",
	"html.call.result":   "result %d",
	"html.call.errno":    "failed with %s",
	"html.call.pid":      "process %d (%s)",
	"html.call.inferred": "not seen: the segments imply this call",
}

func init() {
	for k, v := range diagramEnglish {
		english[k] = v
	}
}
