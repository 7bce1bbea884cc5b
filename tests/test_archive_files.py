"""The archive's copies of a letter's files: its page, its feed entry, and the files themselves."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from mailer.store.campaigns import CampaignFile, add_files
from tests.sample_files import pdf, png
from tests.web_helpers import BASE, Web, insert_campaign

RESOLUTION = "Resolución final.pdf"
RESOLUTION_URL = "Resoluci%C3%B3n%20final.pdf"
LETTER = """---
subject: "The assembly's resolution"
attachments: [Resolución final.pdf]
---

Dear {{ subscriber.name or "reader" }},

![Our logo](logo.png)

Read [the resolution](<Resolución final.pdf>).
"""
KEPT = [
    CampaignFile("attachment", RESOLUTION, "", pdf()),
    CampaignFile("image", "logo.png", "", png()),
    CampaignFile("translation", "letter.es.md", "es", b"---\nsubject: Hola\n---\n\nHola.\n"),
]


def archived(web: Web, *, public: bool = True, state: str = "done") -> int:
    """A campaign of the letter to a list, with its files kept as a send keeps them."""
    mailing_list = web.make_list("news" if public else "board", public=public)
    campaign = insert_campaign(
        web.store, mailing_list, subject="Resolution", source=LETTER, state=state
    )
    with web.store.transaction() as conn:
        add_files(conn, campaign, KEPT)
    return campaign


async def test_the_archive_page_shows_the_images_and_links_the_attachments(web: Web) -> None:
    campaign = archived(web)
    response = await web.client.get(f"/archive/{campaign}")
    assert response.status_code == 200
    files = f"{BASE}/archive/{campaign}/files"
    text = response.text
    assert f'<img src="{files}/logo.png" alt="Our logo"' in text
    assert f'href="{files}/{RESOLUTION_URL}"' in text  # the link in the letter
    assert f'href="/archive/{campaign}/files/{RESOLUTION_URL}">{RESOLUTION}</a>' in text
    assert f"{len(pdf())} bytes" in text


@pytest.mark.parametrize(
    ("path", "content", "content_type", "disposition"),
    [
        (RESOLUTION_URL, pdf(), "application/pdf",
         f"attachment; filename=\"Resolucion final.pdf\"; filename*=UTF-8''{RESOLUTION_URL}"),
        ("logo.png", png(), "image/png", 'inline; filename="logo.png"'),
    ],
    ids=["an attachment to download", "an image to show"],
)
async def test_the_archive_serves_the_letter_s_files(
    web: Web, path: str, content: bytes, content_type: str, disposition: str
) -> None:
    campaign = archived(web)
    response = await web.client.get(f"/archive/{campaign}/files/{path}")
    assert response.status_code == 200
    assert response.content == content
    assert response.headers["content-type"] == content_type
    assert response.headers["content-disposition"] == disposition
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_the_feed_links_the_attachments_as_enclosures(web: Web) -> None:
    campaign = archived(web)
    response = await web.client.get("/archive/feed.atom")
    assert response.status_code == 200
    ns = {"a": "http://www.w3.org/2005/Atom"}
    (entry,) = ET.fromstring(response.content).findall("a:entry", ns)
    (enclosure,) = [link for link in entry.findall("a:link", ns) if link.get("rel") == "enclosure"]
    assert enclosure.attrib == {
        "rel": "enclosure",
        "type": "application/pdf",
        "length": str(len(pdf())),
        "href": f"{BASE}/archive/{campaign}/files/{RESOLUTION_URL}",
    }


async def test_files_of_letters_the_archive_does_not_show_are_not_found(web: Web) -> None:
    private = archived(web, public=False)
    draft = insert_campaign(
        web.store, web.make_list("drafts"), subject="Draft", source=LETTER, state="created"
    )
    with web.store.transaction() as conn:
        add_files(conn, draft, KEPT)
    shown = archived(web)
    for path in (
        f"/archive/{private}/files/logo.png",
        f"/archive/{draft}/files/logo.png",
        f"/archive/{shown}/files/other.png",
        f"/archive/{shown}/files/letter.es.md",  # a translation's text is no file to serve
        f"/archive/{shown}/files/..%2Fmailer.db",
        "/archive/999/files/logo.png",
    ):
        response = await web.client.get(path)
        assert response.status_code == 404, path
        assert response.headers["content-type"].startswith("text/html")
