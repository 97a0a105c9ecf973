#!/usr/bin/env python3
"""The seed's Python client for the `handler` profile (websockethandler-library.md, "Simple
Python WebSocket Client"), on `websockets` 15, as an interop test client for a handler server.

    handler_client.py URL [TOKEN]
    handler_client.py ws://127.0.0.1:8080/ your-auth-token

The `WebSocketClient` class is the seed's: `connect` starts `message_handler` as a task,
`handle_message` dispatches welcome (handshake, then auth if `authRequired` and a token was
given), handshake_response, auth_response, data_response, request, response, publish and
error. `send_data`, `send_request` (a future per requestId, 10 s timeout), `subscribe`,
`publish`, `handle_server_request`, `handle_response` and `handle_published_message` are
unchanged. Only these things differ, each so that it runs headless and ends:
- `websockets.connect` is the asyncio API of websockets 15; the seed pinned 11.0.3, whose
  legacy API has the same names. The seed's `import psutil` sits inside the
  `get_system_info` branch, so it is only needed if a server asks for that.
- `RecordingClient` subclasses it to keep a log of every message received and sent. The
  checks read that log; the seed's logic still handles each message first.
- The seed's `main()` loops forever (send data, sleep 10 s). Here the steps are bounded:
  wait for authentication (5 s), subscribe, `send_data` (the seed's own payload), one
  `send_request('get_weather', {'city': 'New York'})`, and one request to an unknown
  endpoint, which the seed's `handle_response` turns into an exception. Then pub/sub with a
  second instance of the same client on a second connection: both subscribe to
  `system_alerts`, this one publishes the seed's alert, the other must receive it deep-equal,
  and the publisher must not get it back. A `{"type": "heartbeat"}` (the seed's message
  type; the Python client has no method for it) serves as the barrier. It must get a
  `heartbeat_response`, after everything sent before it.
- The seed's client has no heartbeat loop. `handle_server_request` answers requests from the
  server, but a handler server never sends one (only the client probe does), so it runs only
  if the server sends one.

Checks: welcome with a clientId; handshake_response carrying the same clientId when it has
one; auth_response success when authRequired (a TOKEN is then needed); data_response success
with an integer insertId ≥ 1; the get_weather response has the same requestId and the data
{temperature: 22, condition: sunny}; the unknown endpoint fails with an error string;
the publish arrives with deep-equal data; no self-echo; no error messages. Everything is
bounded by a 15 s deadline. Prints one line; exit status 0 if every check passes, 1 if one
fails (reason on stderr), 2 on a usage error or when the server cannot be reached.
"""
import asyncio
import json
import logging
import random
import sys
import time
from datetime import datetime

import websockets

logging.basicConfig(level=logging.WARNING, format="%(name)s %(levelname)s %(message)s")
logger = logging.getLogger("handler_client")

DEADLINE_S = 15.0


# ---- the seed's client (unchanged but for keeping the reader task in self.reader) ------

class WebSocketClient:
    def __init__(self, uri, auth_token=None):
        self.uri = uri
        self.auth_token = auth_token
        self.websocket = None
        self.client_id = None
        self.is_authenticated = False
        self.is_connected = False
        self.pending_requests = {}

    async def connect(self):
        """Connect to WebSocket server"""
        try:
            self.websocket = await websockets.connect(self.uri)
            self.is_connected = True
            logger.info(f"Connected to {self.uri}")

            # Start message handler
            self.reader = asyncio.create_task(self.message_handler())

        except Exception as e:
            logger.error(f"Connection failed: {e}")
            raise

    async def disconnect(self):
        """Disconnect from WebSocket server"""
        if self.websocket:
            await self.websocket.close()
            self.is_connected = False
            logger.info("Disconnected from server")

    async def send_message(self, message):
        """Send message to server"""
        if self.websocket and self.is_connected:
            await self.websocket.send(json.dumps(message))
        else:
            logger.error("Not connected to server")

    async def message_handler(self):
        """Handle incoming messages"""
        try:
            async for message in self.websocket:
                try:
                    data = json.loads(message)
                    await self.handle_message(data)
                except json.JSONDecodeError as e:
                    logger.error(f"JSON decode error: {e}")
                except Exception as e:
                    logger.error(f"Message handling error: {e}")
        except websockets.exceptions.ConnectionClosed:
            logger.info("Connection closed by server")
            self.is_connected = False

    async def handle_message(self, data):
        """Handle different message types"""
        message_type = data.get('type')

        if message_type == 'welcome':
            self.client_id = data.get('clientId')
            logger.info(f"Received welcome, client ID: {self.client_id}")

            # Send handshake
            await self.send_handshake()

            # Authenticate if required
            if data.get('authRequired') and self.auth_token:
                await self.authenticate()
            else:
                self.is_authenticated = True

        elif message_type == 'handshake_response':
            logger.info("Handshake successful")

        elif message_type == 'auth_response':
            success = data.get('success')
            if success:
                logger.info("Authentication successful")
                self.is_authenticated = True
            else:
                logger.error("Authentication failed")

        elif message_type == 'data_response':
            success = data.get('success')
            if success:
                logger.info("Data sent successfully")
                if 'insertId' in data:
                    logger.info(f"Database ID: {data['insertId']}")
            else:
                logger.error(f"Data sending failed: {data.get('message')}")

        elif message_type == 'request':
            await self.handle_server_request(data)

        elif message_type == 'response':
            await self.handle_response(data)

        elif message_type == 'publish':
            await self.handle_published_message(data)

        elif message_type == 'error':
            logger.error(f"Server error: {data.get('message')}")

    async def send_handshake(self):
        """Send handshake message"""
        handshake = {
            'type': 'handshake',
            'clientType': 'application',
            'capabilities': ['data_processing', 'file_upload', 'analytics'],
            'version': '1.0.0'
        }
        await self.send_message(handshake)

    async def authenticate(self):
        """Send authentication message"""
        auth_msg = {
            'type': 'auth',
            'token': self.auth_token
        }
        await self.send_message(auth_msg)

    async def send_data(self, data, data_type='application'):
        """Send data to server"""
        message = {
            'type': 'data',
            'dataType': data_type,
            'data': data,
            'timestamp': datetime.now().isoformat()
        }
        await self.send_message(message)

    async def send_request(self, endpoint, data=None, timeout=10):
        """Send request and wait for response"""
        request_id = f"req_{int(time.time() * 1000)}_{random.randint(1000, 9999)}"

        request = {
            'type': 'request',
            'requestId': request_id,
            'endpoint': endpoint,
            'data': data or {}
        }

        # Create future for response
        future = asyncio.Future()
        self.pending_requests[request_id] = future

        # Send request
        await self.send_message(request)

        # Wait for response with timeout
        try:
            response = await asyncio.wait_for(future, timeout=timeout)
            return response
        except asyncio.TimeoutError:
            self.pending_requests.pop(request_id, None)
            raise TimeoutError(f"Request {endpoint} timed out")

    async def subscribe(self, topic):
        """Subscribe to a topic"""
        message = {
            'type': 'subscribe',
            'topic': topic
        }
        await self.send_message(message)
        logger.info(f"Subscribed to topic: {topic}")

    async def publish(self, topic, data):
        """Publish to a topic"""
        message = {
            'type': 'publish',
            'topic': topic,
            'data': data
        }
        await self.send_message(message)
        logger.info(f"Published to topic: {topic}")

    async def handle_server_request(self, data):
        """Handle requests from server"""
        endpoint = data.get('endpoint')
        request_id = data.get('requestId')
        request_data = data.get('data', {})

        logger.info(f"Received server request: {endpoint}")

        response = {
            'type': 'response',
            'requestId': request_id,
            'success': True,
            'data': {}
        }

        try:
            if endpoint == 'get_system_info':
                import platform
                import psutil

                response['data'] = {
                    'platform': platform.platform(),
                    'cpu_percent': psutil.cpu_percent(),
                    'memory_percent': psutil.virtual_memory().percent,
                    'disk_usage': psutil.disk_usage('/').percent
                }

            elif endpoint == 'process_data':
                # Example data processing
                input_data = request_data.get('values', [])
                result = sum(input_data) / len(input_data) if input_data else 0
                response['data'] = {'average': result}

            else:
                response['success'] = False
                response['error'] = f"Unknown endpoint: {endpoint}"

        except Exception as e:
            response['success'] = False
            response['error'] = str(e)

        await self.send_message(response)

    async def handle_response(self, data):
        """Handle response to our requests"""
        request_id = data.get('requestId')
        if request_id in self.pending_requests:
            future = self.pending_requests.pop(request_id)
            if not future.cancelled():
                if data.get('success'):
                    future.set_result(data.get('data'))
                else:
                    future.set_exception(Exception(data.get('error', 'Request failed')))

    async def handle_published_message(self, data):
        """Handle published messages"""
        topic = data.get('topic')
        message_data = data.get('data')

        logger.info(f"Received published message on topic '{topic}': {message_data}")

        # Handle different topics
        if topic == 'system_alerts':
            logger.warning(f"System Alert: {message_data.get('message')}")
        elif topic == 'sensor_updates':
            logger.info(f"Sensor Update: {message_data}")


# ---- the test harness ---------------------------------------------------------------------

class RecordingClient(WebSocketClient):
    """The seed's client, with a log of every message received and sent."""

    def __init__(self, uri, auth_token=None):
        super().__init__(uri, auth_token)
        self.received = []
        self.sent = []
        self.arrived = asyncio.Event()

    async def handle_message(self, data):
        await super().handle_message(data)
        self.received.append(data)
        self.arrived.set()

    async def send_message(self, message):
        self.sent.append(message)
        await super().send_message(message)

    def of_type(self, kind):
        return [m for m in self.received if m.get('type') == kind]

    async def wait_for(self, predicate, what, timeout=5.0):
        end = asyncio.get_running_loop().time() + timeout
        while True:
            found = [m for m in self.received if predicate(m)]
            if found:
                return found[0]
            left = end - asyncio.get_running_loop().time()
            if left <= 0 or (not self.is_connected and self.reader.done()):
                raise Failure(f"no {what} within {timeout:g} s (connected: {self.is_connected}); "
                              f"received {[m.get('type') for m in self.received]}")
            self.arrived.clear()
            try:
                await asyncio.wait_for(self.arrived.wait(), min(left, 0.2))
            except asyncio.TimeoutError:
                pass

    async def barrier(self, what):
        """Sends the seed's heartbeat and waits for its heartbeat_response; returns the index in
        `received` before which every reply to earlier messages has arrived."""
        before = len(self.of_type('heartbeat_response'))
        await self.send_message({'type': 'heartbeat'})
        await self.wait_for(lambda m: m.get('type') == 'heartbeat_response'
                            and len(self.of_type('heartbeat_response')) > before, f"heartbeat_response ({what})")
        return len(self.received)


class Failure(Exception):
    pass


class Unreachable(Exception):
    pass


async def start(url, token, name):
    client = RecordingClient(url, token)
    try:
        await asyncio.wait_for(client.connect(), 5)
    except (OSError, asyncio.TimeoutError, websockets.exceptions.InvalidHandshake) as e:
        raise Unreachable(f"cannot reach {url}: {e!r}")
    welcome = await client.wait_for(lambda m: m.get('type') == 'welcome', f"welcome ({name})", 2)
    if client.received[0] is not welcome:
        raise Failure(f"{name}: the first message is {client.received[0].get('type')}, not welcome")
    if not isinstance(welcome.get('clientId'), str) or not welcome['clientId']:
        raise Failure(f"{name}: welcome has no clientId: {welcome}")
    if welcome.get('authRequired') and not token:
        raise Failure(f"{name}: the server requires auth; pass TOKEN")
    # The seed's main(): "Wait for authentication".
    end = asyncio.get_running_loop().time() + 5
    while not client.is_authenticated:
        if asyncio.get_running_loop().time() > end or not client.is_connected:
            raise Failure(f"{name}: not authenticated (connected: {client.is_connected}): "
                          f"{client.of_type('auth_response')}")
        await asyncio.sleep(0.1)
    hs = await client.wait_for(lambda m: m.get('type') == 'handshake_response', f"handshake_response ({name})")
    if hs.get('success') is not True or ('clientId' in hs and hs['clientId'] != client.client_id):
        raise Failure(f"{name}: handshake_response {hs} for welcome clientId {client.client_id}")
    return client, welcome


async def run(url, token):
    a, welcome_a = await start(url, token, "client A")
    b, welcome_b = await start(url, token, "client B")
    try:
        if welcome_a['clientId'] == welcome_b['clientId']:
            raise Failure(f"both connections got clientId {welcome_a['clientId']}")
        if welcome_a.get('authRequired'):
            auth = a.of_type('auth_response')
            if not auth or auth[-1].get('success') is not True:
                raise Failure(f"auth_response {auth}")

        # The seed's main(), bounded.
        await a.subscribe('system_alerts')
        await a.subscribe('sensor_updates')
        sample = {
            'application': 'data_processor',
            'version': '1.0.0',
            'processed_records': 150,
            'processing_time': 2.5,
            'status': 'healthy'
        }
        await a.send_data(sample)
        dr = await a.wait_for(lambda m: m.get('type') == 'data_response', "data_response")
        if dr.get('success') is not True:
            raise Failure(f"data_response {dr}")
        insert_id = dr.get('insertId')
        if type(insert_id) is not int or insert_id < 1:
            raise Failure(f"data_response has no insertId >= 1: {dr}")

        try:
            weather = await a.send_request('get_weather', {'city': 'New York'})
        except TimeoutError as e:  # the seed's own timeout (10 s): no response with that requestId
            raise Failure(f"{e}: no response with requestId {a.sent[-1].get('requestId')}; "
                          f"responses {a.of_type('response')}")
        except Exception as e:
            raise Failure(f"get_weather failed: {e}")
        if weather != {'temperature': 22, 'condition': 'sunny'}:
            raise Failure(f"get_weather returned {weather!r}")
        request_ids = [m['requestId'] for m in a.sent if m.get('type') == 'request']
        responses = a.of_type('response')
        if not responses or responses[0].get('requestId') != request_ids[0]:
            raise Failure(f"response {responses[:1]} for request {request_ids[0]}")
        try:
            unknown = await a.send_request('no_such_endpoint')
            raise Failure(f"an unknown endpoint succeeded with {unknown!r}")
        except Failure:
            raise
        except TimeoutError as e:
            raise Failure(str(e))
        except Exception as e:  # the seed's handle_response: Exception(data['error'])
            unknown_error = str(e)
        if not unknown_error:
            raise Failure("the unknown endpoint's error is empty")

        # Pub/sub across two connections: B and A both subscribed, A publishes.
        await b.subscribe('system_alerts')
        await b.barrier("after B subscribed")
        alert = {'level': 'info', 'message': 'Test alert from python client', 'source': 'python_client',
                 'value': 35, 'nested': {'ok': True, 'list': [1, 2.5, None, "x"]}}
        await a.publish('system_alerts', alert)
        got = await b.wait_for(lambda m: m.get('type') == 'publish', "publish at client B")
        if got.get('topic') != 'system_alerts' or got.get('data') != alert:
            raise Failure(f"client B got {got}, sent {alert}")
        await a.barrier("after the publish")
        echoes = a.of_type('publish')
        if echoes:
            raise Failure(f"the publisher got its own publish back: {echoes[0]}")
        # The seed's main() also publishes to a topic nobody subscribed to.
        await a.publish('data_updates', {
            'source': 'python_client',
            'message': 'Processing completed successfully',
            'timestamp': datetime.now().isoformat()
        })
        await a.barrier("after publishing to data_updates")
        await b.barrier("at the end")
        for client, name in ((a, "A"), (b, "B")):
            errors = client.of_type('error')
            if errors:
                raise Failure(f"client {name} got error messages: {errors}")
            if not client.is_connected:
                raise Failure(f"client {name} was disconnected")
        return (f"clientIds {a.client_id} / {b.client_id}, authRequired {bool(welcome_a.get('authRequired'))}, "
                f"insertId {insert_id}, get_weather {weather}, unknown endpoint: {unknown_error!r}, "
                f"publish delivered deep-equal, no self-echo")
    finally:
        await a.disconnect()
        await b.disconnect()


def main():
    args = sys.argv[1:]
    if len(args) not in (1, 2) or not args[0].startswith(('ws://', 'wss://')):
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    url, token = args[0], (args[1] if len(args) == 2 else None)

    async def bounded():
        return await asyncio.wait_for(run(url, token), DEADLINE_S)

    try:
        summary = asyncio.run(bounded())
    except Failure as e:
        print(f"handler_client: FAIL: {e}", file=sys.stderr)
        sys.exit(1)
    except asyncio.TimeoutError:
        print(f"handler_client: FAIL: not done within {DEADLINE_S:g} s", file=sys.stderr)
        sys.exit(1)
    except Unreachable as e:
        print(f"handler_client: {e}", file=sys.stderr)
        sys.exit(2)
    print(f"handler_client: OK: {summary}")


if __name__ == '__main__':
    main()
