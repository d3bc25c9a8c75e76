"""The official stream tutorials' programs (python-stream: send.py, receive.py,
offset_tracking_send.py, offset_tracking_receive.py), their behaviour reproduced with their
client, rstream, for chapter 8's interoperability tests: the same publishes (raw bytes in
send.py, AMQP 1.0 messages in offset_tracking_send.py), the same reading and the same lines.
The stream's name is an argument (the tests use ours); the broker's address comes from
RABBITMQ_HOST, STREAM_PORT (the stream protocol's port) and RABBITMQ_VHOST (user guest).
Every wait is bounded (20 s): a test never hangs on it.

    python3 streams.py send STREAM               as send.py: raw bytes b"Hello, World!"
    python3 streams.py send_amqp STREAM          the same body as an AMQP 1.0 message
    python3 streams.py receive STREAM COUNT      as receive.py (no decoder: the raw bytes),
                                                 from first, until COUNT messages
    python3 streams.py receive_decoded STREAM COUNT   the same with rstream's amqp_decoder
    python3 streams.py offset_tracking_send STREAM
    python3 streams.py offset_tracking_receive STREAM
"""
import asyncio
import os
import sys

from rstream import (
    AMQPMessage,
    ConfirmationStatus,
    Consumer,
    ConsumerOffsetSpecification,
    MessageContext,
    OffsetNotFound,
    OffsetType,
    Producer,
    amqp_decoder,
)

LIMIT = 20
ADDRESS = dict(
    host=os.environ.get("RABBITMQ_HOST", "localhost"),
    port=int(os.environ.get("STREAM_PORT", "5552")),
    vhost=os.environ.get("RABBITMQ_VHOST", "/"),
    username="guest",
    password="guest",
)


async def send(stream, message):
    async with Producer(**ADDRESS) as producer:
        await producer.create_stream(stream, exists_ok=True, arguments={"max-length-bytes": 5000000000})
        # send_wait: confirmed before we go on (send.py waits for Enter instead).
        await producer.send_wait(stream=stream, message=message)
        print(" [x] Hello, World! message sent", flush=True)


async def receive(stream, count, decoder):
    consumer = Consumer(**ADDRESS)
    await consumer.create_stream(stream, exists_ok=True, arguments={"max-length-bytes": 5000000000})
    received = 0
    done = asyncio.Event()

    async def on_message(msg, context: MessageContext):
        nonlocal received
        print("Got message: {} from stream {}".format(msg, stream), flush=True)
        received += 1
        if received >= count:
            done.set()

    print("Press control +C to close", flush=True)
    await consumer.start()
    await consumer.subscribe(stream=stream, callback=on_message, decoder=decoder,
                             offset_specification=ConsumerOffsetSpecification(OffsetType.FIRST, None))
    try:
        await asyncio.wait_for(done.wait(), LIMIT)
    finally:
        await consumer.close()


async def offset_tracking_send(stream):
    confirmed = 0
    all_confirmed = asyncio.Event()

    async def on_confirm(confirmation: ConfirmationStatus):
        nonlocal confirmed
        if confirmation.is_confirmed:
            confirmed += 1
            if confirmed == 100:
                all_confirmed.set()

    async with Producer(**ADDRESS) as producer:
        await producer.create_stream(stream, exists_ok=True, arguments={"max-length-bytes": 2000000000})
        print("Publishing 100 messages", flush=True)
        for i in range(99):
            await producer.send(stream=stream, message=AMQPMessage(body=bytes("hello: {}".format(i), "utf-8")),
                                on_publish_confirm=on_confirm)
        await producer.send(stream=stream, message=AMQPMessage(body=b"marker: 99"), on_publish_confirm=on_confirm)
        await asyncio.wait_for(all_confirmed.wait(), LIMIT)
        print("Messages confirmed: true", flush=True)


async def offset_tracking_receive(stream):
    consumer = Consumer(**ADDRESS)
    await consumer.create_stream(stream, exists_ok=True, arguments={"max-length-bytes": 2000000000})
    state = {"count": -1, "first": -1, "last": -1}
    done = asyncio.Event()

    async def on_message(msg: AMQPMessage, context: MessageContext):
        offset = context.offset
        if state["first"] == -1:
            print("First message received", flush=True)
            state["first"] = offset
        state["count"] += 1
        if state["count"] % 10 == 0:
            await context.consumer.store_offset(stream=stream, offset=offset, subscriber_name=context.subscriber_name)
        if "marker" in str(msg):
            await context.consumer.store_offset(stream=stream, offset=offset, subscriber_name=context.subscriber_name)
            state["last"] = offset
            done.set()

    await consumer.start()
    print("Started consuming: Press control +C to close", flush=True)
    stored = -1
    try:
        stored = await consumer.query_offset(stream=stream, subscriber_name="subscriber_1")
    except OffsetNotFound as error:
        print(f"Offset not previously stored. {error}", flush=True)
    await consumer.subscribe(stream=stream, subscriber_name="subscriber_1", callback=on_message,
                             decoder=amqp_decoder,
                             offset_specification=ConsumerOffsetSpecification(OffsetType.OFFSET, stored + 1))
    try:
        await asyncio.wait_for(done.wait(), LIMIT)
    finally:
        await consumer.close()
    print("Done consuming first_offset: {} last_offset {} ".format(state["first"], state["last"]), flush=True)


def main():
    program, stream = sys.argv[1], sys.argv[2]
    if program == "send":
        run = send(stream, b"Hello, World!")
    elif program == "send_amqp":
        run = send(stream, AMQPMessage(body=b"Hello, World!"))
    elif program == "receive":
        run = receive(stream, int(sys.argv[3]), None)
    elif program == "receive_decoded":
        run = receive(stream, int(sys.argv[3]), amqp_decoder)
    elif program == "offset_tracking_send":
        run = offset_tracking_send(stream)
    elif program == "offset_tracking_receive":
        run = offset_tracking_receive(stream)
    else:
        sys.exit("unknown program " + program)
    asyncio.run(asyncio.wait_for(run, LIMIT + 10))


main()
