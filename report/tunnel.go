package report

import "github.com/socktrace/socktrace/decode"

// tunnelLines says which tunnel a connection travelled in: one line, or
// two when the server's segments came back in another (MPLS labels and
// GTP-U TEIDs are chosen per direction). Nothing for a plain connection.
func tunnelLines(tx *Text, c *decode.Connection) []string {
	t := c.Tunnel()
	if t == nil {
		return nil
	}
	lines := []string{tunnelText(tx, "conn.tunnel", t)}
	if st := c.ServerTunnel(); st != nil {
		lines = append(lines, tunnelText(tx, "conn.tunnel.server", st))
	}
	return lines
}

func tunnelText(tx *Text, id msgID, t *decode.Tunnel) string {
	if !t.Outer[0].IsValid() {
		return tx.m(id+".link", t.Name())
	}
	return tx.m(id, t.Name(), t.Outer[0].String(), t.Outer[1].String())
}

// appendTunnel writes a tunnel as a JSON object: its kind, its identifier
// when it has one, MPLS labels, outer addresses, and the sentence.
func appendTunnel(b []byte, t *decode.Tunnel) []byte {
	b = append(b, `{"kind":`...)
	b = appendString(b, t.Kind.String())
	if t.HasID {
		b = append(b, `,"id":`...)
		b = appendInt(b, int64(t.ID))
	}
	if t.NLabels > 0 {
		b = append(b, `,"labels":[`...)
		for i := range t.NLabels {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendInt(b, int64(t.Labels[i]))
		}
		b = append(b, ']')
	}
	if t.Outer[0].IsValid() {
		b = append(b, `,"outer":[`...)
		b = appendString(b, t.Outer[0].String())
		b = append(b, ',')
		b = appendString(b, t.Outer[1].String())
		b = append(b, ']')
	}
	b = append(b, `,"text":`...)
	b = appendString(b, t.String())
	return append(b, '}')
}

// appendUndecoded writes the undecoded packets by reason, most first.
func appendUndecoded(b []byte, n *decode.Counts) []byte {
	b = append(b, '[')
	for i, u := range n.SortedUndecoded() {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"reason":`...)
		b = appendString(b, u.Undecoded.String())
		b = append(b, `,"kind":"`...)
		b = append(b, u.Kind.KindName()...)
		b = append(b, `","code":`...)
		b = appendInt(b, int64(u.Code))
		b = append(b, `,"packets":`...)
		b = appendInt(b, u.Packets)
		b = append(b, '}')
	}
	return append(b, ']')
}
