package main

import (
	"os"
	"strings"

	"github.com/urfave/cli/v2"
)

// socktrace speaks Korean on the command line too when the reports do
// (--lang ko, or a Korean locale without --lang): --help, the usage line
// and the error messages socktrace writes itself. Messages from the
// system (errno texts, a file's name) stay as the system gives them.

// cliKorean is set by run for the invocation under way: flagHelp and
// usagef read it.
var cliKorean bool

// wantsKorean decides the command line's language from the arguments and
// the environment, as language does for the reports, before the flags
// are parsed (a parse error must already be in the user's language).
func wantsKorean(args []string) bool {
	lang, ascii := "", false
	for i := 1; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			i = len(args)
		case a == "--ascii":
			ascii = true
		case a == "--lang" && i+1 < len(args):
			lang = args[i+1]
		case strings.HasPrefix(a, "--lang="):
			lang = strings.TrimPrefix(a, "--lang=")
		}
	}
	if lang != "" {
		return lang == "ko" && !ascii
	}
	for _, v := range []string{"LC_ALL", "LC_MESSAGES", "LANG"} {
		if loc := os.Getenv(v); loc != "" {
			return strings.HasPrefix(loc, "ko") && !ascii
		}
	}
	return false
}

// koreanErrors translates the formats of usagef; the verbs are the same,
// in the same order.
var koreanErrors = map[string]string{
	"%s given twice (as %s before): it takes one value; to replay several files: socktrace replay FILE...":                    "%s 플래그가 두 번 주어졌습니다(앞서 %s): 값은 하나만 받습니다. 여러 파일을 재생하려면: socktrace replay FILE...",
	"unknown scenario %q; the scenarios are: %s (or all)":                                                                     "알 수 없는 시나리오 %q: 시나리오는 %s (또는 all)입니다",
	"--port %d is not a port: use 1–65535, or leave it out to let the kernel choose":                                          "--port %d는 포트가 아닙니다: 1–65535를 쓰거나, 빼서 커널이 고르게 하세요",
	"-%s is not a flag here (%s lists them)":                                                                                  "-%s는 여기서 쓸 수 있는 플래그가 아닙니다 (%s에 목록이 있습니다)",
	"invalid value %s (%s)":                                                                                                   "잘못된 값 %s (%s)",
	"scenarios takes no arguments":                                                                                            "scenarios는 인자를 받지 않습니다",
	"replay needs a capture file: socktrace replay FILE":                                                                      "replay에는 캡처 파일이 필요합니다: socktrace replay FILE",
	"help takes one command name at most":                                                                                     "help는 명령 이름을 하나까지만 받습니다",
	"--%s does not apply to -r FILE (a replay)":                                                                               "--%s는 -r FILE(재생)에 쓸 수 없습니다",
	"--filter does not apply to the demo, which keeps only its own connections":                                               "--filter는 데모에 쓸 수 없습니다: 데모는 자기 연결만 보여 줍니다",
	"--%s applies to the demo: add --iface lo":                                                                                "--%s는 데모용입니다: --iface lo를 더하세요",
	"unknown command %q; the commands are %s (socktrace --help explains them)":                                                "알 수 없는 명령 %q: 명령은 %s입니다 (socktrace --help에 설명이 있습니다)",
	"unknown format %q: use text, diagram or json":                                                                            "알 수 없는 형식 %q: text, diagram, json 중 하나를 쓰세요",
	"unknown language %q: use en or ko":                                                                                       "알 수 없는 언어 %q: en 또는 ko를 쓰세요",
	"--pid %d is not a process ID":                                                                                            "--pid %d는 프로세스 ID가 아닙니다",
	"run needs a command or a process: socktrace run -- CMD ARGS..., or socktrace run --pid PID":                              "run에는 명령이나 프로세스가 필요합니다: socktrace run -- CMD ARGS..., 또는 socktrace run --pid PID",
	"run takes a command or --pid, not both":                                                                                  "run은 명령과 --pid 중 하나만 받습니다",
	"watch needs an interface: socktrace watch --iface lo [FILTER]":                                                           "watch에는 인터페이스가 필요합니다: socktrace watch --iface lo [FILTER]",
	"-c and --duration take a positive value":                                                                                 "-c와 --duration에는 양수를 주세요",
	"--%s %s is the input file: writing it would destroy it before it is read":                                                "--%s %s는 입력 파일입니다: 여기에 쓰면 읽기도 전에 지워집니다",
	"--%s and --%s name the same file %s":                                                                                     "--%s와 --%s가 같은 파일 %s를 가리킵니다",
	"--%s %s is a directory":                                                                                                  "--%s %s는 디렉터리입니다",
	"--%s %s: the file exists; add --force to replace it":                                                                     "--%s %s: 파일이 이미 있습니다. 바꾸려면 --force를 더하세요",
	"--capture takes auto, ebpf or afpacket, not %q":                                                                          "--capture에는 auto, ebpf, afpacket 중 하나를 주세요(%q는 아님)",
	"--capture ebpf needs the calls recorded with eBPF, not --tracer ptrace":                                                  "--capture ebpf는 호출을 eBPF로 기록할 때만 됩니다(--tracer ptrace는 안 됨)",
	"--tracer takes auto, ebpf or ptrace, not %q":                                                                             "--tracer에는 auto, ebpf, ptrace 중 하나를 주세요(%q는 아님)",
	"--pid and --comm need the processes of the connections: leave out --processes=false":                                     "--pid와 --comm에는 연결의 프로세스가 필요합니다: --processes=false를 빼세요",
	"--pid %d: no such process":                                                                                               "--pid %d: 그런 프로세스가 없습니다",
	"--comm %q has an empty name: give names separated by commas, such as --comm curl,python3":                                "--comm %q에 빈 이름이 있습니다: --comm curl,python3처럼 쉼표로 나눈 이름을 주세요",
	"--comm %q: the kernel keeps 15 bytes of a process name (/proc/PID/comm), so %q would never match; give the first 15: %q": "--comm %q: 커널은 프로세스 이름을 15바이트까지만 둡니다(/proc/PID/comm). %q는 결코 맞지 않으니 앞의 15바이트를 주세요: %q",
}

// localize returns usagef's format in the command line's language.
func localize(format string) string {
	if cliKorean {
		if k, ok := koreanErrors[format]; ok {
			return k
		}
	}
	return format
}

// koreanUsageLine is usageLine in Korean.
const koreanUsageLine = "socktrace --iface lo [--scenario NAME|all]       내장 클라이언트/서버 데모를 루프백에서 실행하고 설명합니다\n" +
	"socktrace replay FILE... [FILTER]   (또는 -r FILE) pcap 또는 pcapng 파일을 설명합니다\n" +
	"socktrace watch --iface IF [FILTER]              실시간 연결을 일어나는 대로 설명합니다\n" +
	"socktrace run [--iface IF] -- CMD [ARGS...]      프로그램의 소켓 호출과 패킷을 추적합니다\n" +
	"socktrace run --pid PID                          실행 중인 프로세스에 대해 같은 일을 Ctrl-C까지 합니다\n" +
	"socktrace scenarios                              데모 시나리오 목록\n" +
	"socktrace help [COMMAND]                         이 도움말, 또는 명령의 플래그\n" +
	"실시간 캡처에는 CAP_NET_RAW가 필요합니다(root에게는 있습니다). 프로그램 추적에는 ptrace 권한이 필요합니다."

// koreanUsage translates the app's, commands' and flags' usage texts.
// A flag's `PLACEHOLDER` stays as it is.
var koreanUsage = map[string]string{
	"socket calls and TCP segments on one timeline, explained":                                       "소켓 호출과 TCP 세그먼트를 한 타임라인에 놓고 설명합니다",
	"trace a program's socket calls and capture its packets, on one timeline":                        "프로그램의 소켓 호출을 추적하고 패킷을 캡처해 한 타임라인에 놓습니다",
	"explain live connections on an interface as they happen, until Ctrl-C":                          "인터페이스의 실시간 연결을 일어나는 대로 Ctrl-C까지 설명합니다",
	"list the built-in demo scenarios (run one with: socktrace --iface lo --scenario NAME)":          "내장 데모 시나리오를 나열합니다 (실행: socktrace --iface lo --scenario NAME)",
	"explain every TCP connection in pcap or pcapng files":                                           "pcap 또는 pcapng 파일의 모든 TCP 연결을 설명합니다",
	"show the help, or a command's":                                                                  "도움말, 또는 명령의 도움말을 보여 줍니다",
	"output `FORMAT`: text, diagram or json (default: text)":                                         "출력 형식 `FORMAT`: text, diagram, json (기본: text)",
	"also write a self-contained HTML report (sequence diagrams, explanations) to `FILE`":            "독립된 HTML 보고서(시퀀스 다이어그램, 설명)를 `FILE`에도 씁니다",
	"print only ASCII: plain characters for arrows, symbols and diagram lines (English only)":        "ASCII만 출력합니다: 화살표, 기호, 다이어그램 선을 평범한 문자로 (영어만)",
	"explanations in `LANG`: en or ko (default: from $LC_ALL, $LC_MESSAGES or $LANG)":                "설명 언어 `LANG`: en 또는 ko (기본: $LC_ALL, $LC_MESSAGES, $LANG 순서로)",
	"replay the capture `FILE` (as tcpdump -r; the same as: socktrace replay FILE)":                  "캡처 파일 `FILE`을 재생합니다 (tcpdump -r처럼; socktrace replay FILE과 같음)",
	"capture on interface `IF`":                                                                      "인터페이스 `IF`에서 캡처합니다",
	"capture on interface `IF` (default: lo)":                                                        "인터페이스 `IF`에서 캡처합니다 (기본: lo)",
	"capture on interface `IF` (required)":                                                           "인터페이스 `IF`에서 캡처합니다 (필수)",
	"stop after `N` connections have ended":                                                          "연결 `N`개가 끝나면 멈춥니다",
	"stop after `D` (such as 30s or 5m)":                                                             "`D` 뒤에 멈춥니다 (30s, 5m 등)",
	"run the demo on ::1 instead of 127.0.0.1":                                                       "데모를 127.0.0.1 대신 ::1에서 실행합니다",
	"server `PORT` for the demo, 1–65535 (default: the kernel chooses a free one)":                   "데모 서버 포트 `PORT`, 1–65535 (기본: 커널이 빈 포트를 고름)",
	"demo `NAME`, a comma-separated list, or all (default: handshake; see: socktrace scenarios)":     "데모 `NAME`, 쉼표로 나눈 목록, 또는 all (기본: handshake; socktrace scenarios 참고)",
	"print the version and the revision it was built from":                                           "버전과 빌드한 리비전을 출력합니다",
	"also write the packets that pass the filter to `FILE` (pcapng, as tcpdump -r IN -w OUT FILTER)": "필터를 통과한 패킷을 `FILE`(pcapng)에도 씁니다 (tcpdump -r IN -w OUT FILTER처럼)",
	"also write the packets, with the socket calls as packet comments, to `FILE` (pcapng)":           "패킷을, 소켓 호출을 패킷 주석으로 달아 `FILE`(pcapng)에도 씁니다",
	"capture filter `EXPR` in pcap-filter syntax (host, net, port, portrange, src, dst, tcp, udp, ip, ip6, and/or/not); it may also follow as trailing arguments": "pcap-filter 문법의 캡처 필터 `EXPR` (host, net, port, portrange, src, dst, tcp, udp, ip, ip6, and/or/not); 맨 뒤의 인자로 주어도 됩니다",
	"colour diagrams `WHEN`: auto (a terminal, unless NO_COLOR is set; the default), always or never":                                                             "다이어그램 색칠 `WHEN`: auto (터미널이고 NO_COLOR가 없을 때; 기본), always, never",
	"capture the packets with `HOW`: ebpf (in the kernel, only the program's own segments, their headers and the first bytes of payload: the cheapest for the program), afpacket (a packet socket on --iface, whole packets, as tcpdump), or auto (ebpf when the calls are recorded with eBPF, on every interface, and no -w file is written, else afpacket)": "패킷을 `HOW`로 캡처합니다: ebpf (커널 안에서, 프로그램 자신의 세그먼트만, 헤더와 페이로드 앞부분: 프로그램에 가장 부담이 적음), afpacket (--iface의 패킷 소켓, tcpdump처럼 패킷 전체), 또는 auto (호출을 eBPF로 기록하고, 모든 인터페이스에서 캡처하며, -w 파일을 쓰지 않으면 ebpf, 아니면 afpacket)",
	"record the calls with `TRACER`: ebpf (in the kernel, full speed), ptrace, or auto (ebpf where the kernel allows it, else ptrace)":                                                                        "호출을 `TRACER`로 기록합니다: ebpf (커널 안에서, 제 속도로), ptrace, 또는 auto (커널이 허락하면 ebpf, 아니면 ptrace)",
	"replace an existing --write, --html or --output file (without it socktrace refuses)":                                                                                                                     "이미 있는 --write, --html, --output 파일을 바꿉니다 (없으면 socktrace가 거절합니다)",
	"summaries in `LANG`: en or ko (default: from $LC_ALL, $LC_MESSAGES or $LANG)":                                                                                                                            "요약 언어 `LANG`: en 또는 ko (기본: $LC_ALL, $LC_MESSAGES, $LANG 순서로)",
	"trace the running process `PID` instead of starting a command (until Ctrl-C)":                                                                                                                            "명령을 시작하는 대신 실행 중인 프로세스 `PID`를 추적합니다 (Ctrl-C까지)",
	"which connections text and diagrams explain in full: `WHICH` is auto (the default: the first of each shape and the notable ones; the rest in one line), all, or none (one line per segment, as tcpdump)": "텍스트와 다이어그램이 자세히 설명할 연결 `WHICH`: auto (기본: 모양마다 첫 연결과 눈여겨볼 연결; 나머지는 한 줄), all, 또는 none (tcpdump처럼 세그먼트마다 한 줄)",
	"write the report to `FILE` instead of stdout (as strace -o), apart from the program's own output":                                                                                                        "보고서를 표준 출력 대신 `FILE`에 씁니다 (strace -o처럼), 프로그램 자신의 출력과 섞이지 않게",
	"name the process of each connection (pid, name, user; also for connections older than the watch, through sock_diag and /proc) and show the kernel's states (eBPF; --processes=false turns it off)":       "연결마다 프로세스(pid, 이름, 사용자; watch보다 먼저 있던 연결도 sock_diag와 /proc로)를 밝히고 커널의 상태를 보여 줍니다 (eBPF; --processes=false로 끕니다)",
	"show only the connections of process `PID` (and its threads)":                                                                                                                                            "프로세스 `PID`(와 그 스레드)의 연결만 보여 줍니다",
	"show only the connections of processes named `NAME` as in /proc/PID/comm, exactly; a comma-separated list for several":                                                                                   "/proc/PID/comm의 이름이 정확히 `NAME`인 프로세스의 연결만 보여 줍니다; 여럿이면 쉼표로 나눈 목록",
	"show help": "도움말을 보여 줍니다",
}

// koreanHeadings are urfave/cli's help headings in Korean.
var koreanHeadings = strings.NewReplacer(
	"NAME:", "이름:", "USAGE:", "사용법:", "COMMANDS:", "명령:", "GLOBAL OPTIONS:", "전역 옵션:",
	"OPTIONS:", "옵션:", "VERSION:", "버전:", "DESCRIPTION:", "설명:", "CATEGORY:", "분류:",
	"[command options]", "[명령 옵션]", "[global options]", "[전역 옵션]", "[arguments...]", "[인자...]",
)

// localizeApp turns the app's help into Korean.
func localizeApp(app *cli.App) {
	tr := func(s string) string {
		if k, ok := koreanUsage[s]; ok {
			return k
		}
		return s
	}
	app.Usage = tr(app.Usage)
	app.UsageText = koreanUsageLine
	app.CustomAppHelpTemplate = koreanHeadings.Replace(cli.AppHelpTemplate)
	for _, cmd := range app.Commands {
		cmd.Usage = tr(cmd.Usage)
		cmd.ArgsUsage = strings.NewReplacer("(or ", "(또는 ").Replace(cmd.ArgsUsage)
		cmd.CustomHelpTemplate = koreanHeadings.Replace(cli.CommandHelpTemplate)
	}
}

// koreanFlagUsage is a flag's usage text in the command line's language.
func koreanFlagUsage(usage string) string {
	if !cliKorean {
		return usage
	}
	if k, ok := koreanUsage[usage]; ok {
		return k
	}
	return usage
}
