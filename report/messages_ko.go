package report

// korean is the Korean catalog. It follows the seed note's terms: 포트,
// 소켓, 연결 요청, 결합, 주시, 클라이언트 연결 수립, 데이터 송수신, 소켓 닫기.
// Messages missing here fall back to English until translated.
var korean = map[msgID]string{}
