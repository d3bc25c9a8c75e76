"""The original course's Python/pika programs, for the interoperability tests: the producers
as the course writes them (same declarations, same publishes), and its consumers' declarations.
The broker's address comes from RABBITMQ_HOST, RABBITMQ_PORT and RABBITMQ_VHOST (user guest).

    python3 course.py send | new_task WORDS | emit_log WORDS | emit_log_direct SEVERITY WORDS
                    | emit_log_topic KEY WORDS | declare   (the consumers' declarations only)
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
