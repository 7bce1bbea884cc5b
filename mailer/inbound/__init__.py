"""Mail that arrives: routed by the address it came to, checked, and stored.

``routes`` decides where a message goes (a list's posting address, the
replies address, the bounce and unsubscribe addresses, or nowhere);
``noise`` keeps loops, auto-replies, bounces and oversized mail out of the
routes that store what people write; ``intake`` puts the two together for
each message and logs what became of it; ``replies`` and ``posts`` are the
routes' own work.
"""
