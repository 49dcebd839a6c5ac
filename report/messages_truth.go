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
	"why.fragments": " It arrived in %d IP fragments, reassembled: its length is the whole segment's.",
	"why.zwp":       "A zero-window probe: the other side's window is 0, so the %s's kernel, with data waiting, sends a segment one byte below its next sequence number (its persist timer, backing off ~200 ms, 400 ms...), which the other side must answer with an ACK carrying its current window: a lost window update cannot stall the connection. It is not keep-alive (tshark calls it that).",
	"why.nosynack":  " The capture has no SYN-ACK, yet the client sends this: a socket in SYN_SENT sends nothing but SYNs, so the SYN-ACK reached it (lost before the capture point, or filtered out) and the handshake completed.",
}

var truthKorean = map[msgID]string{
	"why.fragments": " IP 조각 %d개로 도착해 재조립되었습니다: 길이는 세그먼트 전체의 길이입니다.",
	"why.zwp":       "제로 윈도 탐침: 상대의 윈도가 0이므로, 보낼 데이터가 남은 %s의 커널이 다음 순서 번호보다 1 작은 세그먼트를 보냅니다(퍼시스트 타이머, 약 200 ms, 400 ms... 간격으로 늘어남). 상대는 현재 윈도를 담은 ACK로 답해야 하므로, 윈도 갱신이 유실되어도 연결이 멈추지 않습니다. 킵얼라이브가 아닙니다(tshark는 그렇게 부릅니다).",
	"why.nosynack":  " 캡처에 SYN-ACK가 없지만 클라이언트가 이것을 보냅니다: SYN_SENT 상태의 소켓은 SYN 말고는 보내지 않으므로, SYN-ACK가 도착했고(캡처 지점 전에 유실되었거나 필터로 걸러짐) 핸드셰이크가 끝났습니다.",
}
