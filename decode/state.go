package decode

// State is an endpoint's TCP state, as RFC 9293 names them.
type State uint8

// The RFC 9293 states, and Unknown for an endpoint whose state the capture
// does not show (a server before it answers, either side of a connection
// seen midstream).
const (
	Unknown State = iota
	Closed
	Listen
	SynSent
	SynReceived
	Established
	FinWait1
	FinWait2
	CloseWait
	Closing
	LastAck
	TimeWait
)

var stateNames = [...]string{
	Unknown:     "UNKNOWN",
	Closed:      "CLOSED",
	Listen:      "LISTEN",
	SynSent:     "SYN_SENT",
	SynReceived: "SYN_RECEIVED",
	Established: "ESTABLISHED",
	FinWait1:    "FIN_WAIT_1",
	FinWait2:    "FIN_WAIT_2",
	CloseWait:   "CLOSE_WAIT",
	Closing:     "CLOSING",
	LastAck:     "LAST_ACK",
	TimeWait:    "TIME_WAIT",
}

// String returns the RFC name with underscores, as ss and netstat print it.
func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "INVALID"
}

// Valid reports whether s is one of the named states.
func (s State) Valid() bool { return s <= TimeWait }

// Side is one end of a connection.
type Side uint8

// The two ends. The client is the side that sent the first SYN without ACK.
const (
	Client Side = iota
	Server
)

func (s Side) String() string {
	if s == Client {
		return "client"
	}
	return "server"
}

// Other is the opposite side.
func (s Side) Other() Side { return 1 - s }

// Sides is a set of sides, for facts that can hold for one side, the other,
// both or neither (who sent the first FIN, who enters TIME_WAIT).
type Sides uint8

// The sets of sides.
const (
	NoSide     Sides = 0
	ClientSide Sides = 1 << Client
	ServerSide Sides = 1 << Server
	BothSides  Sides = ClientSide | ServerSide
)

// Has reports whether s contains side.
func (s Sides) Has(side Side) bool { return s&(1<<side) != 0 }

// String returns "client", "server", "both" or "" for none.
func (s Sides) String() string {
	switch s {
	case ClientSide:
		return "client"
	case ServerSide:
		return "server"
	case BothSides:
		return "both"
	}
	return ""
}
