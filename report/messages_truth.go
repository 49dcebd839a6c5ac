package report

// Messages for what the tracker tells apart since issue 10 and the rest
// of the catalog does not say yet: IP fragments, a handshake completed
// without a SYN-ACK in the capture. They join the catalogs at init, kept in their own file
// so that the wording of the rest can change without touching them.
func init() {
	for id, s := range truthEnglish {
		english[id] = s
	}
	for id, s := range truthKorean {
		korean[id] = s
	}
}

var truthEnglish = map[msgID]string{
	"why.fragments":      " It arrived in %d IP fragments, reassembled: its length is the whole segment's.",
	"why.zwp":            "A zero-window probe: the other side's window is 0, so the %s's kernel, with data waiting, sends a segment one byte below its next sequence number (its persist timer, backing off ~200 ms, 400 ms...), which the other side must answer with an ACK carrying its current window: a lost window update cannot stall the connection. It is not keep-alive (tshark calls it that).",
	"why.note.ecnsyn":    " ECE and CWR on a SYN: the %s asks to use ECN (RFC 3168; Linux's net.ipv4.tcp_ecn): a congested router may then mark a packet CE in its IP header instead of dropping it.",
	"why.note.ecnsynack": " ECE alone on the SYN-ACK: the %s agrees to ECN; the data segments then carry ECT in their IP header.",
	"why.note.ce":        " Its IP header is marked CE (Congestion Experienced): a congested router on the path marked it instead of dropping it. The %s's kernel will set ECE on its ACKs until the sender answers with CWR.",
	"why.note.ece":       " ECE: the %s's kernel echoes a CE mark it received, and repeats it until the other side sets CWR.",
	"why.note.cwr":       " CWR: the %s's kernel has cut its congestion window for the ECE it got (as for a loss, without one) and tells the other side to stop echoing.",
	"why.nosynack":       " The capture has no SYN-ACK, yet the client sends this: a socket in SYN_SENT sends nothing but SYNs, so the SYN-ACK reached it (lost before the capture point, or filtered out) and the handshake completed.",
}

var truthKorean = map[msgID]string{
	"why.fragments":      " IP 조각 %d개로 도착해 재조립되었습니다: 길이는 세그먼트 전체의 길이입니다.",
	"why.zwp":            "제로 윈도 탐침: 상대의 윈도가 0이므로, 보낼 데이터가 남은 %s의 커널이 다음 순서 번호보다 1 작은 세그먼트를 보냅니다(퍼시스트 타이머, 약 200 ms, 400 ms... 간격으로 늘어남). 상대는 현재 윈도를 담은 ACK로 답해야 하므로, 윈도 갱신이 유실되어도 연결이 멈추지 않습니다. 킵얼라이브가 아닙니다(tshark는 그렇게 부릅니다).",
	"why.note.ecnsyn":    " SYN의 ECE와 CWR: %s가 ECN 사용을 요청합니다(RFC 3168, 리눅스의 net.ipv4.tcp_ecn). 혼잡한 라우터는 패킷을 버리는 대신 IP 헤더에 CE를 표시할 수 있습니다.",
	"why.note.ecnsynack": " SYN-ACK의 ECE(CWR 없이): %s가 ECN에 동의합니다. 이후 데이터 세그먼트는 IP 헤더에 ECT를 답니다.",
	"why.note.ce":        " IP 헤더에 CE(혼잡 경험) 표시: 경로의 혼잡한 라우터가 버리는 대신 표시했습니다. %s의 커널은 송신자가 CWR로 답할 때까지 ACK에 ECE를 답니다.",
	"why.note.ece":       " ECE: %s의 커널이 받은 CE 표시를 되돌려 알리며, 상대가 CWR을 달 때까지 반복합니다.",
	"why.note.cwr":       " CWR: %s의 커널이 받은 ECE 때문에 혼잡 윈도를 줄였고(손실 없이 손실 때처럼), 상대에게 되돌림을 멈추라고 알립니다.",
	"why.nosynack":       " 캡처에 SYN-ACK가 없지만 클라이언트가 이것을 보냅니다: SYN_SENT 상태의 소켓은 SYN 말고는 보내지 않으므로, SYN-ACK가 도착했고(캡처 지점 전에 유실되었거나 필터로 걸러짐) 핸드셰이크가 끝났습니다.",
}
