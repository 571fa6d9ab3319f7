"""The seed's "Python Test Client" (docs: gRPC Event Streaming, "Testing with grpcurl"), changed only to:

(a) take the address, API key, number N of events to read and a timeout from argv or the environment;
(b) stop after N events and print one JSON line summary on stdout, then exit 0.

The seed's per-message prints go to stderr, so stdout carries only the summary line.

usage: /usr/bin/python3 seed_client.py [ADDRESS [API_KEY [N [TIMEOUT_S]]]]
  env: MARIE_ADDRESS (default localhost:51001), MARIE_API_KEY (default the seed's mas_your_api_key),
       MARIE_EVENTS (N, default 1), MARIE_TIMEOUT_S (default 30)
Stubs: tests/interop/python/gen_stubs.sh OUTDIR, then PYTHONPATH=OUTDIR.
Exit: 0 after N events; 1 on a gRPC error or timeout (the summary line is printed anyway, with "error").
"""
import asyncio
import json
import os
import sys

import grpc
from marie.proto import event_stream_pb2 as pb2
from marie.proto import event_stream_pb2_grpc


def _arg(index, env, default):
    if len(sys.argv) > index and sys.argv[index] != "":
        return sys.argv[index]
    return os.environ.get(env) or default


ADDRESS = _arg(1, "MARIE_ADDRESS", "localhost:51001")
API_KEY = _arg(2, "MARIE_API_KEY", "mas_your_api_key")
N_EVENTS = int(_arg(3, "MARIE_EVENTS", "1"))
TIMEOUT_S = float(_arg(4, "MARIE_TIMEOUT_S", "30"))

summary = {
    "ok": False,
    "address": ADDRESS,
    "events_wanted": N_EVENTS,
    "events_received": 0,
    "events": [],
    "heartbeats": 0,
    "heartbeat_timestamps": [],
    "subscription_confirmed": False,
    "errors": [],
}


def log(text):
    print(text, file=sys.stderr, flush=True)


async def test_subscription():
    async with grpc.aio.insecure_channel(ADDRESS) as channel:
        stub = event_stream_pb2_grpc.EventStreamServiceStub(channel)

        # Create metadata with auth
        metadata = [('authorization', f'Bearer {API_KEY}')]

        # Start bidirectional stream
        stream = stub.StreamEvents(metadata=metadata)

        # Send subscribe request
        await stream.write(pb2.ClientMessage(
            subscribe=pb2.SubscribeRequest(
                subscription_id='test-sub-1',
                topics=['*'],  # All topics
            )
        ))

        if N_EVENTS <= 0:
            stream.cancel()
            return

        # Read events
        async for msg in stream:
            if msg.HasField('event'):
                log(f"Event: {msg.event.event.event}")
                log(f"  ID: {msg.event.event.id}")
                log(f"  Payload: {msg.event.event.payload}")
                summary["events"].append({
                    "id": msg.event.event.id,
                    "event": msg.event.event.event,
                    "topic": msg.event.event.api_key,
                    "sequence_num": msg.event.sequence_num,
                    "ack_id": msg.event.ack_id,
                    "delivery_attempt": msg.event.delivery_attempt,
                })
                summary["events_received"] = len(summary["events"])

                # Acknowledge
                await stream.write(pb2.ClientMessage(
                    ack=pb2.AckMessage(
                        subscription_id='test-sub-1',
                        individual=pb2.IndividualAck(ack_ids=[msg.event.ack_id])
                    )
                ))
                if len(summary["events"]) >= N_EVENTS:
                    break
            elif msg.HasField('heartbeat'):
                log(f"Heartbeat: {msg.heartbeat.timestamp}")
                summary["heartbeats"] += 1
                summary["heartbeat_timestamps"].append(msg.heartbeat.timestamp)
            elif msg.HasField('subscription_confirm'):
                summary["subscription_confirmed"] = True
            elif msg.HasField('error'):
                summary["errors"].append({
                    "code": pb2.ErrorCode.Name(msg.error.code),
                    "message": msg.error.message,
                })

        stream.cancel()


def main():
    code = 0
    try:
        asyncio.run(asyncio.wait_for(test_subscription(), TIMEOUT_S))
        if summary["events_received"] >= N_EVENTS:
            summary["ok"] = True
        else:
            summary["error"] = "stream ended before N events"
            code = 1
    except asyncio.TimeoutError:
        summary["error"] = f"timeout after {TIMEOUT_S} s"
        code = 1
    except grpc.aio.AioRpcError as e:
        summary["error"] = f"{e.code().name}: {e.details()}"
        code = 1
    print(json.dumps(summary), flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
