"""Posting to a list by mail: who may, how the sender is proved, and what members get.

``authresults`` reads the receiving mail server's verdict on a post;
``policy`` decides from it and the list's settings whether a post goes to
the list, waits for a moderator or its poster, or is refused; ``dmarc``
says whether the poster's domain would have the post refused as it is;
``rewrite`` turns the post into each member's message (the campaign's
builder); ``notices`` are the mails mailer writes about posts; ``moderation``
is what moderators and posters decide.
"""
