package report

// shapeEnglish and shapeKorean hold the messages of the shape rule
// (shape.go, shape_text.go). They live beside the feature and join the
// catalogs at init.
var shapeEnglish = map[msgID]string{
	"shape.same":            "#%d %s → %s, %s, %s, %d/%d B, %d pkts: same as #%d",
	"shape.untracked":       "#%d %s → %s, %s, %s, %d/%d B, %d pkts (past %d shapes: not compared)",
	"shape.group":           "%d more like #%d (#%d … #%d, %s to %s): %d/%d bytes, %d packets in all",
	"shape.why":             "shown in full: %s",
	"shape.header":          "Shapes: %d connection(s) in %d shape(s); the first of each is explained in full above, later ones in one line (--explain all explains every one)",
	"shape.line":            "%d× like #%d: %s (history %s)",
	"shape.more":            "… %d more shapes, %d connections",
	"shape.segments":        "segments:",
	"shape.calls":           "calls:",
	"shape.over":            "%d connections of shapes past the first %d were not compared",
	"notable.header":        "Notable connections (%d), explained in full above:",
	"notable.more":          "… and %d more",
	"notable.refused":       "refused",
	"notable.reset":         "reset",
	"notable.retransmitted": "retransmitted",
	"notable.half-open":     "half-open",
	"notable.slow":          "slow handshake",
	"notable.zero-window":   "zero window",
	"notable.out-of-order":  "out of order",
	"total.resumed":         "%d time(s) a packet came for a connection the full table had ended early: it resumed that connection under its number (marked resumed), not a new one",
	"total.late":            "%d segment(s) came after their connection had ended (retransmitted FINs, last ACKs): not shown",
	"html.same":             "same as #%d",
	"html.explain.none":     "--explain none: none of the %d connections is drawn. The table lists the first connections; socktrace --format json lists every one.",
	"html.undrawn":          "%d connections are not drawn: %d have the shape of one drawn above (the table links each to it), %d notable ones came after the first %d sections. The table lists the first connections; socktrace --format json lists every one.",
	"segline.note":          "One line per segment (--explain none): time (UTC), connection, source > destination, flags, relative seq/ack, length, window, state changes.",
}

var shapeKorean = map[msgID]string{
	"shape.same":            "#%d %s → %s, %s, %s, %d/%d바이트, 패킷 %d개: #%d와 같은 모양",
	"shape.untracked":       "#%d %s → %s, %s, %s, %d/%d바이트, 패킷 %d개 (모양 %d가지를 넘어 비교하지 않음)",
	"shape.group":           "%d개 더, #%d와 같은 모양 (#%d … #%d, %s부터 %s까지): 모두 %d/%d바이트, 패킷 %d개",
	"shape.why":             "전체 설명 이유: %s",
	"shape.header":          "모양: 연결 %d개, 모양 %d가지. 모양마다 첫 연결은 위에서 전체를 설명했고, 나머지는 한 줄로 보였습니다 (--explain all은 모두 설명합니다)",
	"shape.line":            "%d× #%d와 같은 모양: %s (history %s)",
	"shape.more":            "… 모양 %d가지 더, 연결 %d개",
	"shape.segments":        "세그먼트:",
	"shape.calls":           "호출:",
	"shape.over":            "연결 %d개는 처음 %d가지 모양 밖이라 비교하지 않았습니다",
	"notable.header":        "눈여겨볼 연결 (%d개), 위에서 전체를 설명함:",
	"notable.more":          "… 그리고 %d개 더",
	"notable.refused":       "거부됨",
	"notable.reset":         "리셋됨",
	"notable.retransmitted": "재전송",
	"notable.half-open":     "반쪽 열림",
	"notable.slow":          "느린 핸드셰이크",
	"notable.zero-window":   "윈도 0",
	"notable.out-of-order":  "순서 어긋남",
	"total.resumed":         "표가 가득 차서 일찍 끝낸 연결에 패킷이 %d번 왔습니다: 새 연결이 아니라 같은 번호로 이어 보였습니다 (resumed 표시)",
	"total.late":            "연결이 끝난 뒤에 온 세그먼트 %d개 (재전송된 FIN, 마지막 ACK): 표시하지 않음",
	"html.same":             "#%d와 같은 모양",
	"html.explain.none":     "--explain none: 연결 %d개를 하나도 그리지 않았습니다. 표는 처음 연결들을 싣고, socktrace --format json은 모든 연결을 보입니다.",
	"html.undrawn":          "연결 %d개는 그리지 않았습니다: %d개는 위에 그린 연결과 모양이 같고 (표에서 그 연결로 이어짐), 눈여겨볼 연결 %d개는 처음 %d개 절 뒤에 왔습니다. 표는 처음 연결들을 싣고, socktrace --format json은 모든 연결을 보입니다.",
	"segline.note":          "세그먼트마다 한 줄 (--explain none): 시각(UTC), 연결, 출발지 > 목적지, 플래그, 상대 seq/ack, 길이, 윈도, 상태 변화.",
}

func init() {
	for k, v := range shapeEnglish {
		english[k] = v
	}
	for k, v := range shapeKorean {
		korean[k] = v
	}
}
