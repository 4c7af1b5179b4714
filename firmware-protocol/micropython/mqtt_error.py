# The error both MQTT client adapters raise (mqtt.py and umqtt_client.py), in its own module so a
# device imports only the client it uses.


class MQTTError(Exception):
    pass
