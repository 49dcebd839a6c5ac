package report

// services names the well-known and common registered ports a learner is
// likely to meet, as /etc/services does. The list is short on purpose: it
// is for explanations, not for protocol detection.
var services = map[uint16]string{
	20: "FTP data", 21: "FTP", 22: "SSH", 23: "Telnet", 25: "SMTP (sending e-mail)",
	53: "DNS", 80: "HTTP", 110: "POP3", 143: "IMAP", 443: "HTTPS", 465: "SMTP over TLS",
	587: "mail submission", 993: "IMAP over TLS", 995: "POP3 over TLS",
	1433: "Microsoft SQL Server", 1521: "Oracle", 3306: "MySQL", 5432: "PostgreSQL",
	6379: "Redis", 8080: "HTTP (alternate)", 8443: "HTTPS (alternate)", 27017: "MongoDB",
}

func serviceName(port uint16) string { return services[port] }
