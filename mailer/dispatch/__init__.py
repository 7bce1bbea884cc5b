"""Campaigns on their way out: the plan, the journal, the sender and the transports.

``plan`` snapshots a campaign's recipients, ``journal`` records what happened
to each of them, ``sender`` drives the asyncio worker pool, and ``smtp`` and
``outbox`` are the two ways a message leaves the program.
"""
