package report

// korean is the Korean catalog: every message of the English catalogs
// (messages.go and diagram_messages.go), with the same fmt verbs in the
// same order (lang_test.go checks both).
//
// It follows the seed note's terms: 포트, 소켓, 연결 요청 (connect), 결합
// (bind), 주시 (listen), 클라이언트 연결 수립 (accept), 데이터 송수신,
// 소켓 닫기 (close). Call names, flags and state names stay as the system
// spells them (connect(), SYN, TIME_WAIT), since that is what a learner
// meets in man pages and tools.
//
// Korean particles change with the sound of the word before them (가/이,
// 는/은), so a particle never follows a %d or a %s that can be "양쪽"
// (side.both): such messages are phrased with a colon or 의 instead.
var korean = map[msgID]string{
	// Header and preface.
	"conn.header":       "연결 %d: %s → %s",
	"conn.client":       "클라이언트 %s",
	"conn.server":       "서버 %s",
	"conn.roles.guess":  "(캡처가 연결 도중부터 시작되어, 어느 쪽이 클라이언트인지는 포트 번호로 추정했습니다)",
	"conn.self":         "하나의 소켓이 자기 자신의 주소와 포트로 연결했습니다: 클라이언트이면서 서버입니다",
	"port.wellknown":    "포트 %d: 잘 알려진 포트(0–1023)로, %s에 예약되어 있습니다",
	"port.wellknown.ns": "포트 %d: 잘 알려진 포트(0–1023)로, 특권 프로세스만 결합(bind)할 수 있습니다",
	"port.registered":   "포트 %d: 등록된 포트(1024–49151)%s",
	"port.service":      " — 흔히 %s",
	"port.ephemeral":    "포트 %d: 임시 포트 범위(%d–%d)의 포트로, 클라이언트가 결합(bind) 없이 connect()를 호출하자 커널이 골라 주었습니다",
	"port.dynamic":      "포트 %d: 동적 포트 범위(49152–65535)의 포트입니다",
	"preface.ports":     "포트(0–65535)는 네트워크를 통해 데이터를 주고받는 프로세스를 호스트 안에서 식별하는 값입니다. 잘 알려진 포트(0–1023)는 표준 서비스(80 HTTP, 443 HTTPS, 25 SMTP)의 것이고, 등록된 포트(1024–49151)는 알려진 애플리케이션의 것이며, 커널은 클라이언트에게 잠깐 쓰는 임시 포트(여기서는 %d–%d)를 나누어 줍니다.",
	"preface.socket":    "소켓은 네트워크를 경유하는 프로세스 간 통신의 종착점입니다. 소켓을 열려면 IP 주소, 포트, 프로토콜(여기서는 TCP)이 필요합니다. 이 세 가지가 소켓을 정의하지만 유일하게 식별하지는 않습니다: 주시 중인 포트에서 수립된 연결은 모두 그 포트를 함께 쓰고, 4-튜플(클라이언트 IP와 포트, 서버 IP와 포트)만이 그들을 구별합니다.",
	"preface.flows":     "클라이언트의 소켓 흐름: 소켓 생성 socket() → 연결 요청 connect() → 데이터 송수신 send()/recv() → 소켓 닫기 close(). 서버의 흐름: 소켓 생성 socket() → 결합 bind() → 주시 listen() → 클라이언트 연결 수립 accept() → 데이터 송수신 send()/recv() → 소켓 닫기 close(). 아래에서는 세그먼트마다 그것을 일으킨 호출을 밝힙니다. [추정] 표시가 붙은 호출은 관찰된 것이 아니라 세그먼트로부터 추정한 것입니다.",

	// Column labels. The directions are padded to the same width as
	// each other in a terminal (Hangul takes two columns).
	"dir.c2s":       "클라이언트 → 서버",
	"dir.s2c":       "서버 → 클라이언트",
	"dir.self":      "소켓 → 자기 자신 ",
	"state.change":  "%s %s → %s",
	"inferred":      " [추정]",
	"truncated":     "(스냅 길이에 잘림: %d바이트만 캡처됨, 페이로드는 %d바이트)",
	"late":          "연결이 끝난 뒤에 도착한 세그먼트입니다: 상대가 더는 필요로 하지 않는 재전송 같은 낙오자입니다.",
	"payload":       "페이로드 %s",
	"more.segments": "… 상태 변화가 없는 데이터·ACK 세그먼트 %d개를 생략했습니다 (모두 보려면 --format json)",

	// Why each segment happened.
	"why.syn":            "연결 요청 connect()%s: 클라이언트가 연결을 요청합니다. 커널이 초기 순서 번호를 담은 SYN을 보내고, connect()는 응답이 올 때까지 블록됩니다.%s",
	"why.syn.self":       "연결 요청 connect()%s: 소켓이 자기 포트로 연결을 요청하고, 커널이 SYN을 보냅니다.%s",
	"why.synopts":        " 옵션: %s.",
	"why.synrtx":         "아직 응답이 없습니다: 클라이언트 커널이 같은 SYN을 다시 보냅니다(재전송 %d번째, 첫 SYN 후 %s). connect()는 여전히 블록되어 있습니다.",
	"why.simsyn":         "상대도 자기 SYN을 보냈습니다: 양쪽이 동시에 connect()를 호출했으므로(동시 열기) 서로의 SYN에 응답합니다.",
	"why.simsyn.self":    "소켓이 자기 SYN을 받습니다: TCP에게는 양 끝이 동시에 여는 동시 열기이므로 SYN_RECEIVED로 넘어갑니다.",
	"why.synack":         "서버 커널이 주시 중인 소켓을 대신해 응답합니다: 주시 listen()%s 덕분에 연결 요청을 받을 수 있으며, 핸드셰이크에는 accept()가 필요 없습니다. SYN을 확인 응답하고 자기 SYN을 보냅니다.%s",
	"why.synack.self":    "소켓이 자기 SYN에 SYN-ACK로 답하고, 그것을 받으면서 connect()가 끝납니다.",
	"why.handshakeack":   "클라이언트의 ACK로 3-way 핸드셰이크가 끝납니다(connect()는 SYN-ACK가 도착했을 때, 한 왕복 만에 반환했습니다). 이제 연결은 주시 백로그에서 기다리고, 클라이언트 연결 수립 accept()%s 호출은 이 4-튜플을 위한 새 소켓을 반환합니다. 주시 중인 소켓은 포트 %d에 그대로 남습니다.",
	"why.data":           "%s가 %d바이트를 보냅니다(데이터 송신: send()/write()%s). 상대 커널은 recv()/read()가 가져갈 때까지 이를 버퍼에 보관합니다.",
	"why.data.halfclose": "%s가 상대의 FIN을 받은 뒤에도 %d바이트를 보냅니다: 연결이 반쪽 닫힘(half-close) 상태로, 한 방향은 끝났고 다른 방향은 아직 데이터를 나릅니다.",
	"why.rtx":            "%s가 전에 보낸 바이트를 다시 보냅니다: 첫 전송이 제때 확인 응답되지 않았습니다(재전송).",
	"why.ack":            "%s의 커널이 바이트 %d 앞까지 모두 받았다고 확인 응답(ACK)합니다.",
	"why.ack.fin":        "%s의 커널이 FIN을 확인 응답합니다.",
	"why.fin":            "소켓 닫기 close() 또는 shutdown(SHUT_WR)%s: %s가 더 보낼 것이 없어 커널이 FIN을 보냅니다. 상대의 read()는 0(데이터의 끝)을 반환하게 되며, 상대는 여전히 보낼 수 있습니다.",
	"why.fin.second":     "소켓 닫기 close()%s: 데이터의 끝을 읽은 %s도 소켓을 닫고, 커널이 자기 FIN을 보냅니다.",
	"why.fin.both":       "%s가 상대의 FIN을 보기 전에 자기 FIN을 보냅니다: 양쪽이 동시에 닫았고(동시 닫기), 둘 다 CLOSING을 거칩니다.",
	"why.rst":            "close()%s 호출로 연결이 리셋되었습니다: %s의 커널이 FIN 대신 RST를 보냈습니다 — SO_LINGER 타임아웃이 0이거나, 수신 버퍼에 읽지 않은 데이터가 남은 채 close()했기 때문입니다. 전송 중이던 데이터는 버려지고, 어느 쪽도 TIME_WAIT에 들어가지 않습니다.",
	"why.rst.refused":    "포트 %d에서 주시하는 소켓이 없습니다: 서버 커널이 SYN에 RST로 답하고, connect()는 ECONNREFUSED(연결 거부)로 실패합니다.",
	"why.timewait":       " 먼저 닫은 %s는 이제 TIME_WAIT(2×MSL, 리눅스에서 60초)에서 기다립니다. 이 연결의 늦은 세그먼트가 같은 4-튜플의 새 연결로 오인되지 않게 하기 위해서입니다.",
	"why.closed":         " %s의 소켓이 이제 완전히 닫혔습니다.",

	// Socket calls, as observed in a live run.
	"call.socket":         "소켓 생성 socket(): 아직 주소가 없는 종착점을 만들고, 커널이 이를 디스크립터 %d로 돌려줍니다.",
	"call.setsockopt":     "setsockopt(%s): 소켓을 쓰기 전에 옵션을 설정합니다.",
	"call.bind":           "결합 bind(): 소켓을 %s에 결합합니다. 이제 IP 주소, 포트, 프로토콜이 이 소켓을 정의합니다.",
	"call.listen":         "주시 listen(): 소켓이 수동(passive) 소켓이 됩니다. 이제부터 커널이 포트 %d로 오는 SYN에 직접 응답하고, 끝난 핸드셰이크를 accept()가 가져갈 때까지 큐(백로그)에 쌓아 둡니다.",
	"call.connect":        "연결 요청 connect(), 대상 %s: 소켓에 포트가 없으면 커널이 임시 포트를 붙이고 SYN을 보냅니다. 핸드셰이크에 응답이 올 때까지 호출은 블록됩니다.",
	"call.connect.fail":   "connect() 실패: %s.",
	"call.connect.ok":     "connect()가 0을 반환합니다: SYN을 보낸 지 한 왕복 만에 SYN-ACK가 도착했습니다.",
	"call.accept":         "클라이언트 연결 수립 accept(): 디스크립터 %d를 반환합니다. %s ↔ %s 연결을 위한 새 소켓이며, 주시 중인 소켓은 포트 %d에 그대로 남습니다. 수립된 여러 소켓이 그 포트를 함께 쓰고, 4-튜플로 서로 구별됩니다.",
	"call.accept.late":    "accept()가 디스크립터 %d를 반환하지만, 커널은 이 핸드셰이크를 이미 %s 전에 끝냈습니다: accept()는 큐에서 꺼내기만 했습니다.",
	"call.accept.wait":    "accept()가 백로그에서 연결을 기다립니다(클라이언트 연결 수립 대기).",
	"call.read":           "데이터 수신 read(): 수신 버퍼에 도착해 있던 %d바이트를 반환합니다.",
	"call.read.eof":       "read()가 0을 반환합니다: 데이터의 끝으로, 상대가 FIN을 보냈습니다.",
	"call.read.fail":      "read() 실패: %s.",
	"call.write":          "데이터 송신 write(): %d바이트를 커널의 송신 버퍼에 복사하고 반환합니다. 실제 전송은 TCP가 알아서 합니다.",
	"call.shutdown":       "shutdown(%s): 이쪽은 더 보내지 않습니다. 커널이 FIN을 보내지만, 소켓은 여전히 읽을 수 있습니다.",
	"call.close":          "소켓 닫기 close(): 디스크립터를 반납하고 커널이 연결을 끝냅니다. 받은 데이터를 모두 읽었으면 FIN을, 그렇지 않거나 SO_LINGER 0이면 RST를 보냅니다.",
	"call.close.listener": "주시 중인 소켓 닫기 close(): 이 포트로 새 연결은 더 받지 않지만, 이미 수립된 연결은 계속됩니다.",
	"call.enter":          "%s %s",
	"call.exit":           "%s: %s 반환, %s 걸림",
	"call.instant":        "%s → %s (%s)",
	"call.generic":        "%s()",

	// Connection summary.
	"sum.handshake.three-way":         "3-way 핸드셰이크",
	"sum.handshake.simultaneous-open": "동시 열기",
	"sum.handshake.refused":           "연결 거부",
	"sum.handshake.unanswered":        "SYN에 응답 없음",
	"sum.handshake.midstream":         "도중부터 관찰 (핸드셰이크는 캡처 전에 있었음)",
	"sum.close.graceful":              "정상 종료 (양방향 FIN)",
	"sum.close.reset":                 "%s의 RST로 리셋됨",
	"sum.close.half-closed":           "반쪽 닫힘: %s만 FIN을 보냄",
	"sum.close.open":                  "캡처가 끝날 때까지 열려 있음",
	"sum.close.none":                  "연결이 수립되지 않음",
	"sum.firstfin":                    "먼저 닫은 쪽: %s",
	"sum.timewait":                    "TIME_WAIT에 들어간 쪽: %s",
	"sum.halfclose":                   "FIN 뒤에도 데이터 송신 (반쪽 닫힘)",
	"sum.synrtx":                      "SYN 재전송 %d회",
	"sum.irtt":                        "초기 RTT %s",
	"sum.bytes":                       "클라이언트→서버 %d바이트, 서버→클라이언트 %d바이트, 패킷 %d개",
	"sum.zeek":                        "Zeek conn_state %s, history %s",
	"sum.states":                      "%s 상태: %s",
	"sum.calls":                       "%s 호출: %s",
	"side.client":                     "클라이언트",
	"side.server":                     "서버",
	"side.both":                       "양쪽",

	// The report's last lines.
	"total.header":            "요약",
	"total.connections":       "연결 %d개: %s",
	"total.packets":           "패킷 %d개: TCP %d개, 기타 %d개 (TCP가 아니어서 표시하지 않음), 손상 %d개 (건너뜀)",
	"total.close.reset":       "리셋 (RST)",
	"total.close.half-closed": "반쪽 닫힘",
	"total.dropped":           "커널이 버린 패킷 %d개",
	"total.evicted":           "연결 표가 가득 차서 일찍 끝낸 연결 %d개",
	"total.error":             "입력이 오류로 끝났습니다: %s",

	// The sequence diagram (diagram.go).
	"diagram.legend":        "시간은 각 연결의 첫 사건부터 잽니다. 화살표 하나가 세그먼트 하나이며, 플래그, 상대 seq와 ack, 페이로드 길이를 적습니다. 양쪽 여백에는 그쪽의 소켓 호출이 일어난 자리와 새로 들어간 TCP 상태가 나옵니다. 생명선 옆의 괄호는 반환될 때까지 블록되는 호출입니다. *가 붙은 호출은 관찰된 것이 아니라 세그먼트로부터 추정한 것입니다.",
	"diagram.time":          "시간",
	"diagram.returns":       "%d 반환",
	"diagram.fails":         "실패 %s",
	"diagram.self.sends":    "소켓 (송신)",
	"diagram.self.receives": "소켓 (수신)",
	"diagram.calls.omitted": "… 호출 %d개는 그리지 않았습니다",
	"diagram.lanes":         "연결 %s의 시간이 겹칩니다: 연결마다 세로줄 하나, 세그먼트마다 한 행이며, 시간은 첫 세그먼트부터 잽니다.",
	"diagram.lanes.omitted": "(여러 연결을 한데 보는 그림은 생략: 연결 %d개, 세그먼트 %d개까지만 보관합니다)",

	// The HTML report (html.go).
	"html.title":         "socktrace 보고서",
	"html.hover":         "화살표나 호출 위에 마우스를 올리면 자세한 내용이 보입니다.",
	"html.legend":        "시간은 각 연결의 첫 사건부터 잽니다. 화살표 하나가 세그먼트 하나로, 플래그, 상대 seq와 ack, 페이로드 길이를 적고 종류별로 색을 칠했습니다: SYN은 초록, FIN은 황색, RST는 빨강, 데이터는 파랑, 데이터 없는 ACK는 회색입니다. 양쪽 여백에는 그쪽의 소켓 호출이 일어난 자리와 새로 들어간 TCP 상태가 나옵니다. 생명선 위의 막대는 반환될 때까지 블록되는 호출입니다. *가 붙은 호출은 관찰된 것이 아니라 세그먼트로부터 추정한 것입니다.",
	"html.col.conn":      "연결",
	"html.col.opened":    "열림",
	"html.col.closed":    "닫힘",
	"html.col.packets":   "패킷",
	"html.col.c2s":       "바이트 클라이언트 → 서버",
	"html.col.s2c":       "바이트 서버 → 클라이언트",
	"html.col.irtt":      "초기 RTT",
	"html.col.zeek":      "Zeek conn_state, history",
	"html.seg.head":      "세그먼트 %d: %s, %s",
	"html.seg.numbers":   "상대 seq %d, ack %d; 절대 seq %d, ack %d; 윈도 %d; 페이로드 %d바이트",
	"html.seg.time":      "캡처 시각 %s (+%s)",
	"html.call.head":     "%s(): %s 쪽 호출",
	"html.call.fd":       "파일 디스크립터 %d",
	"html.call.enter":    "진입 시각 %s",
	"html.call.exit":     "반환 시각 %s, %s 걸림",
	"html.call.result":   "결과 %d",
	"html.call.errno":    "실패: %s",
	"html.call.pid":      "프로세스 %d (%s)",
	"html.call.inferred": "관찰되지 않음: 세그먼트로부터 추정한 호출",
}
