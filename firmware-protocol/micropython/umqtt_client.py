# Runs the device on micropython-lib's umqtt.simple (what many boards ship) instead of mqtt.py:
# the same small interface device.py uses, mapped onto umqtt.simple.MQTTClient. Selected with
# "mqtt_client": "umqtt" in the device's CONFIG.json.
import time

from umqtt.simple import MQTTClient, MQTTException

from mqtt_error import MQTTError


class Client:
    def __init__(self, client_id, host, port=1883, user=None, password=None, keepalive=30, ca=None):
        if ca is not None:
            raise MQTTError("TLS with umqtt.simple is not wired here: use mqtt.py (\"mqtt_client\": \"mqtt\")")
        # umqtt.simple sends a password whenever there is a user name: give it an empty one.
        if user is not None and password is None:
            password = ""
        self._client = MQTTClient(client_id, host, port, user, password, keepalive)

    def set_last_will(self, topic, payload, retain=True, qos=1):
        self._client.set_last_will(topic, payload, retain, qos)

    def set_callback(self, callback):
        # umqtt.simple passes the topic as bytes; device.py expects str.
        self._client.set_callback(lambda topic, message: callback(topic.decode(), message))

    def connect(self, clean_session=False):
        self._call(self._client.connect, clean_session)

    def subscribe(self, topic, qos=1):
        self._call(self._client.subscribe, topic, qos)

    def publish(self, topic, payload, retain=False, qos=0):
        self._call(self._client.publish, topic, payload, retain, qos)

    def ping(self):
        self._call(self._client.ping)

    def check_msg(self, timeout=0):
        # umqtt.simple polls without waiting; wait here instead of spinning.
        if self._call(self._client.check_msg) is not None:
            return True
        if timeout:
            time.sleep(timeout)
        return False

    def disconnect(self):
        self._call(self._client.disconnect)

    def close(self):
        try:
            self._client.sock.close()
        except (AttributeError, OSError):
            pass

    @staticmethod
    def _call(function, *args):
        try:
            return function(*args)
        except MQTTException as error:
            raise MQTTError(str(error))
