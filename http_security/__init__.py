"""What the registry and the REST Proxy share to secure their HTTP: the TLS of an https listener
from Confluent's `ssl.*` properties (tls.py), cheroot serving it (cheroot_tls.py), and HTTP basic
authentication against a Jetty HashLoginService-style users file with argon2id hashes (users.py).

Imports no other schemabus package but kafka_properties (the JAAS file that may name the users file).
"""
