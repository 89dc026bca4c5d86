#!/usr/bin/env python3
"""An SMPP 3.4 client (an ESME) built on smpplib, for msgframe's interoperability tests
(tests/interop_python.rs), where the SMSC is msgframe's.

    smpp_client.py PORT [ROUNDS]

Against 127.0.0.1:PORT, with smpplib's own Client (which frames every PDU by its 4-byte big-endian
command_length, counting itself):

  1. bind_transceiver as system_id "msgframe-test", password "secret"; the bind_transceiver_resp
     must carry system_id "MSGFRAME-SMSC".
  2. submit_sm with short messages of 0, 1, 100 and 254 bytes (254: the most short_message holds),
     ROUNDS times over (default 1); each submit_sm_resp must carry a message_id and the
     submit_sm's sequence number.
  3. enquire_link; the enquire_link_resp must carry its sequence number.
  4. read_once() twice: the SMSC sends a deliver_sm and an enquire_link, which smpplib answers
     itself (deliver_sm_resp, enquire_link_resp).
  5. unbind; the unbind_resp must come back. Then disconnect.

Prints `STEP <what>` as it goes, then `OK <summary>` and exits 0, or `FAIL <step> <error>` and
exits 1.
"""

import logging
import sys

import smpplib.client
import smpplib.consts
import smpplib.smpp

SHORT_MESSAGES = [b"", b"x", bytes(range(32, 132)), bytes((i * 7) % 256 for i in range(254))]


def say(*words):
    print(*words, flush=True)


def main(port, rounds=1):
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    client = smpplib.client.Client("127.0.0.1", port, timeout=5, allow_unknown_opt_params=True)
    step = "connect"
    sent = []
    delivered = []
    try:
        client.set_message_sent_handler(lambda pdu: sent.append(pdu))
        client.set_message_received_handler(lambda pdu: delivered.append(pdu))
        client.connect()

        step = "bind_transceiver"
        resp = client.bind_transceiver(system_id="msgframe-test", password="secret")
        if resp.command != "bind_transceiver_resp" or resp.system_id != b"MSGFRAME-SMSC":
            raise AssertionError(f"{resp.command} system_id={resp.system_id!r}")
        say("STEP bind_transceiver_resp system_id=" + resp.system_id.decode())

        step = "submit_sm"
        message_ids = []
        for text in SHORT_MESSAGES * rounds:
            pdu = client.send_message(
                source_addr_ton=smpplib.consts.SMPP_TON_INTL,
                source_addr="15550001",
                dest_addr_ton=smpplib.consts.SMPP_TON_INTL,
                destination_addr="15550002",
                data_coding=smpplib.consts.SMPP_ENCODING_BINARY,
                short_message=text,
            )
            client.read_once()
            resp = sent[-1]
            if resp.sequence != pdu.sequence or not resp.message_id:
                raise AssertionError(f"seq {resp.sequence} (sent {pdu.sequence}), message_id {resp.message_id!r}")
            message_ids.append(resp.message_id.decode())
            say("STEP submit_sm_resp", len(text), resp.message_id.decode())

        step = "enquire_link"
        pdu = smpplib.smpp.make_pdu("enquire_link", client=client)
        client.send_pdu(pdu)
        resp = client.read_pdu()
        if resp.command != "enquire_link_resp" or resp.sequence != pdu.sequence:
            raise AssertionError(f"{resp.command} seq {resp.sequence} (sent {pdu.sequence})")
        say("STEP enquire_link_resp")

        step = "deliver_sm and enquire_link from the SMSC"
        client.read_once()
        client.read_once()
        if len(delivered) != 1 or delivered[0].short_message != b"hello from msgframe":
            raise AssertionError(f"delivered {[d.short_message for d in delivered]}")
        say("STEP deliver_sm", delivered[0].short_message.decode())

        step = "unbind"
        resp = client.unbind()
        if resp.command != "unbind_resp":
            raise AssertionError(resp.command)
        say("STEP unbind_resp")
        client.disconnect()
    except Exception as e:
        say("FAIL", step, type(e).__name__, str(e).replace("\n", " "))
        sys.exit(1)
    say("OK", "message_ids=" + ",".join(message_ids), "deliver_sm=1", "enquire_link=2")


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    main(int(sys.argv[1]), *(int(a) for a in sys.argv[2:]))
