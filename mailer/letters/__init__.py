"""Letters: from a Markdown file to one message per recipient.

- ``source``: the letter file (front matter and body), new letters, slugs;
- ``compile``: everything the same for every recipient, done once; rendering per recipient;
- ``plaintext``: the text part, written from the Markdown;
- ``mime``: the message as bytes (headers and bodies), built by hand for speed;
- ``check``: ``letters check``, the same rendering with errors and warnings collected;
- ``confirmation``: the double opt-in confirmation message.
"""
