/* The built-in table of large providers (see setup.h).  Used only when a
 * domain publishes no RFC 6186 SRV records; every entry is still probed
 * before it is written into a configuration. */
#include <string.h>
#include <strings.h>

#include "sync/setup.h"

static const struct provider providers[] = {
	{"Gmail", "gmail.com googlemail.com", "imap.gmail.com", 993, 0, "pop.gmail.com", 995, 1,
	 "Google accepts OAuth2 tokens, or an app password once 2-step verification is on"},
	{"Outlook / Microsoft 365", "outlook.com hotmail.com hotmail.fr hotmail.co.uk live.com "
	 "live.fr msn.com", "outlook.office365.com", 993, 0, "outlook.office365.com", 995, 1,
	 "Microsoft accepts only OAuth2 tokens (basic authentication is retired)"},
	{"Yahoo", "yahoo.com yahoo.fr yahoo.co.uk ymail.com rocketmail.com",
	 "imap.mail.yahoo.com", 993, 0, "pop.mail.yahoo.com", 995, 0,
	 "Yahoo needs an app password (Account security > Generate app password)"},
	{"AOL", "aol.com aol.fr", "imap.aol.com", 993, 0, "pop.aol.com", 995, 0,
	 "AOL needs an app password"},
	{"iCloud", "icloud.com me.com mac.com", "imap.mail.me.com", 993, 0, NULL, 0, 0,
	 "iCloud needs an app-specific password (appleid.apple.com); it has no POP3"},
	{"Fastmail", "fastmail.com fastmail.fm fastmail.net fastmail.org messagingengine.com",
	 "imap.fastmail.com", 993, 0, "pop.fastmail.com", 995, 0,
	 "Fastmail needs an app password (Settings > Privacy & Security)"},
	{"Yandex", "yandex.ru yandex.com yandex.by yandex.kz ya.ru", "imap.yandex.com", 993, 0,
	 "pop.yandex.com", 995, 0, "Yandex needs IMAP enabled in its settings and an app password"},
	{"GMX", "gmx.net gmx.de gmx.at gmx.ch gmx.fr", "imap.gmx.net", 993, 0, "pop.gmx.net", 995, 0,
	 "GMX needs IMAP/POP3 access enabled in its web settings"},
	{"GMX (international)", "gmx.com gmx.us gmx.co.uk", "imap.gmx.com", 993, 0, "pop.gmx.com",
	 995, 0, "GMX needs IMAP/POP3 access enabled in its web settings"},
	{"WEB.DE", "web.de", "imap.web.de", 993, 0, "pop3.web.de", 995, 0,
	 "WEB.DE needs IMAP/POP3 access enabled in its web settings"},
	{"Orange", "orange.fr wanadoo.fr", "imap.orange.fr", 993, 0, "pop.orange.fr", 995, 0, NULL},
	{"Free", "free.fr", "imap.free.fr", 993, 0, "pop.free.fr", 995, 0, NULL},
	{"La Poste", "laposte.net", "imap.laposte.net", 993, 0, "pop.laposte.net", 995, 0,
	 "La Poste needs access by mail programs enabled in its settings"},
	{"SFR", "sfr.fr neuf.fr", "imap.sfr.fr", 993, 0, "pop.sfr.fr", 995, 0, NULL},
	{"mailbox.org", "mailbox.org", "imap.mailbox.org", 993, 0, "pop3.mailbox.org", 995, 0, NULL},
	{"Posteo", "posteo.de posteo.net", "posteo.de", 993, 0, "posteo.de", 995, 0, NULL},
	{"Zoho", "zoho.com zohomail.com", "imap.zoho.com", 993, 0, "pop.zoho.com", 995, 0,
	 "Zoho needs IMAP access enabled in its settings"},
	{"Proton Mail", "proton.me protonmail.com protonmail.ch pm.me", "127.0.0.1", 1143, 1, NULL,
	 0, 0, "Proton Mail works only through Proton Mail Bridge, running on this computer"},
};

const struct provider *provider_table(size_t *n)
{
	*n = sizeof providers / sizeof providers[0];
	return providers;
}

const struct provider *provider_for_domain(const char *domain)
{
	size_t dl = strlen(domain);

	for (size_t i = 0; i < sizeof providers / sizeof providers[0]; i++) {
		for (const char *p = providers[i].domains; *p;) {
			size_t l = strcspn(p, " ");
			if (l == dl && !strncasecmp(p, domain, l))
				return &providers[i];
			p += l;
			p += *p == ' ';
		}
	}
	return NULL;
}
