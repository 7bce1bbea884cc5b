"""Campaigns on their way out: the plan, the journal, the sender and the transports.

- ``plan``: snapshot a campaign's recipients (list, suppressions, ``segment``);
- ``segment``: the small filter language behind ``send --segment``;
- ``journal``: each recipient's outcome, durable at once, committed in batches;
- ``sender``: the asyncio worker pool (pages of recipients, retries, Ctrl-C);
- ``ratelimit``: the global and per-domain token buckets;
- ``transport``, ``smtp``, ``outbox``: how a message leaves (relays or Maildir);
- ``run``: put the pieces together for the command line (send, resume, test);
- ``schedule``: sending at a set time (the time read in its zone, the start);
- ``worker``: ``campaigns run`` round after round, until a signal stops it;
- ``status``: read and steer campaigns (counters, cancel, retry, what is due).
"""
