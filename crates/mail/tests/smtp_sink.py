"""A real SMTP server on 127.0.0.1 for the e-mail tests (PyPI aiosmtpd).

Usage: python smtp_sink.py DIR. Prints the port it listens on, then serves until killed. Every
accepted message is written to DIR as NNNN.eml (the bytes received) and NNNN.json (parsed by
Python's own `email` package: envelope, headers, plain-text and HTML parts), an implementation
independent of the sender's. While DIR/refuse exists, every message is answered with its content
(e.g. "451 4.3.0 try again later" or "554 5.7.1 refused") and not stored. While DIR/hold exists,
the reply to DATA is held (DIR/holding says one is); a message whose sender went away meanwhile
is not stored.
"""

import asyncio
import email
import email.policy
import json
import os
import sys

from aiosmtpd.smtp import SMTP


class Sink:
    def __init__(self, directory):
        self.directory = directory
        self.count = 0

    async def handle_DATA(self, server, session, envelope):
        hold = os.path.join(self.directory, "hold")
        if os.path.exists(hold):
            # Holds the reply (the sender waits, as for a slow relay) until DIR/hold is removed.
            # A sender that went away meanwhile never heard "250": the message is not accepted.
            open(os.path.join(self.directory, "holding"), "w").close()
            while os.path.exists(hold):
                await asyncio.sleep(0.02)
            os.remove(os.path.join(self.directory, "holding"))
            if server.transport is None or server.transport.is_closing():
                return "421 4.4.2 the sender went away"
        refuse = os.path.join(self.directory, "refuse")
        if os.path.exists(refuse):
            with open(refuse) as f:
                return f.read().strip()
        self.count += 1
        base = os.path.join(self.directory, "%04d" % self.count)
        raw = envelope.original_content
        with open(base + ".eml", "wb") as f:
            f.write(raw)
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        parts = {}
        for kind in ("plain", "html"):
            body = msg.get_body(preferencelist=(kind,))
            parts[kind] = body.get_content() if body is not None else None
        headers = {}
        for name, value in msg.items():
            headers.setdefault(name.lower(), []).append(str(value))
        doc = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "content_type": msg.get_content_type(),
            "headers": headers,
            "text": parts["plain"],
            "html": parts["html"],
        }
        with open(base + ".json.tmp", "w") as f:
            json.dump(doc, f)
        os.rename(base + ".json.tmp", base + ".json")
        return "250 2.0.0 OK"


async def main(directory):
    sink = Sink(directory)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(sink), "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
