"""The original course's Python/pika programs, for the interoperability tests: the producers
as the course writes them (same declarations, same publishes), and its consumers' declarations.
The broker's address comes from RABBITMQ_HOST, RABBITMQ_PORT and RABBITMQ_VHOST (user guest).

    python3 course.py send | new_task WORDS | emit_log WORDS | emit_log_direct SEVERITY WORDS
                    | emit_log_topic KEY WORDS | declare   (the consumers' declarations only)
                    | rpc_server | rpc_client [N]

rpc_server and rpc_client behave as today's official tutorial programs (chapter 6): the same
declarations, properties, bodies and printed lines; the client waits without a time limit and
turns the answer into an int, so an error answer makes it fail.
"""
import os
import sys

import pika

connection = pika.BlockingConnection(pika.ConnectionParameters(
    host=os.environ.get("RABBITMQ_HOST", "localhost"),
    port=int(os.environ.get("RABBITMQ_PORT", "5672")),
    virtual_host=os.environ.get("RABBITMQ_VHOST", "/")))
channel = connection.channel()
program, argv = sys.argv[1], sys.argv[1:]

if program == "send":
    channel.queue_declare(queue='hello')
    channel.basic_publish(exchange='', routing_key='hello', body='Hello World!')
    print(" [x] Sent 'Hello World!'")
elif program == "new_task":
    channel.queue_declare(queue='task_queue', durable=True)
    message = ' '.join(argv[1:]) or "Hello World!"
    channel.basic_publish(
        exchange='', routing_key='task_queue', body=message,
        properties=pika.BasicProperties(delivery_mode=pika.DeliveryMode.Persistent))
    print(f" [x] Sent {message}")
elif program == "emit_log":
    channel.exchange_declare(exchange='logs', exchange_type='fanout')
    message = ' '.join(argv[1:]) or "info: Hello World!"
    channel.basic_publish(exchange='logs', routing_key='', body=message)
    print(f" [x] Sent {message}")
elif program == "emit_log_direct":
    channel.exchange_declare(exchange='direct_logs', exchange_type='direct')
    severity = argv[1] if len(argv) > 1 else 'info'
    message = ' '.join(argv[2:]) or 'Hello World!'
    channel.basic_publish(exchange='direct_logs', routing_key=severity, body=message)
    print(f" [x] Sent {severity}:{message}")
elif program == "emit_log_topic":
    channel.exchange_declare(exchange='topic_logs', exchange_type='topic')
    routing_key = argv[1] if len(argv) > 2 else 'anonymous.info'
    message = ' '.join(argv[2:]) or 'Hello World!'
    channel.basic_publish(exchange='topic_logs', routing_key=routing_key, body=message)
    print(f" [x] Sent {routing_key}:{message}")
elif program == "rpc_server":
    channel.queue_declare(queue="rpc_queue", durable=True, arguments={"x-queue-type": "quorum"})

    def fib(n):
        a, b = 0, 1
        for _ in range(n):
            a, b = b, a + b
        return a

    def on_request(ch, method, props, body):
        n = int(body)
        print(f" [.] fib({n})", flush=True)
        ch.basic_publish(exchange="", routing_key=props.reply_to,
                         properties=pika.BasicProperties(correlation_id=props.correlation_id),
                         body=str(fib(n)))
        ch.basic_ack(delivery_tag=method.delivery_tag)

    channel.basic_qos(prefetch_count=1)
    channel.basic_consume(queue="rpc_queue", on_message_callback=on_request)
    print(" [x] Awaiting RPC requests", flush=True)
    channel.start_consuming()
elif program == "rpc_client":
    import uuid
    callback_queue = channel.queue_declare(queue="", exclusive=True).method.queue
    response = None
    corr_id = str(uuid.uuid4())

    def on_response(ch, method, props, body):
        global response
        if corr_id == props.correlation_id:
            response = body

    channel.basic_consume(queue=callback_queue, on_message_callback=on_response, auto_ack=True)
    n = int(argv[1]) if len(argv) > 1 else 30
    print(f" [x] Requesting fib({n})", flush=True)
    channel.basic_publish(exchange="", routing_key="rpc_queue",
                          properties=pika.BasicProperties(reply_to=callback_queue, correlation_id=corr_id),
                          body=str(n))
    while response is None:
        connection.process_data_events(time_limit=None)
    print(f" [.] Got {int(response)}")
elif program == "declare":
    # What receive.py, worker.py and the receive_logs*.py scripts declare before consuming.
    channel.queue_declare(queue='hello')
    channel.queue_declare(queue='task_queue', durable=True)
    channel.exchange_declare(exchange='logs', exchange_type='fanout')
    channel.exchange_declare(exchange='direct_logs', exchange_type='direct')
    channel.exchange_declare(exchange='topic_logs', exchange_type='topic')
    print(" [*] declared as the course does")
else:
    sys.exit(f"unknown program {program}")
connection.close()
