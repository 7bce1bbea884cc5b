"""The web side in the reader's language: the form's, the subscriber's, the visitor's.

Through httpx against the app (the ``web`` fixture): the subscribe form in the
language asked for among the list's, the language stored and the confirmation
written in it, the confirm and unsubscribe pages in the subscriber's
language, the archive and the error pages.
"""

from __future__ import annotations

import re

import httpx

from mailer.store.subscribers import find_subscriber
from tests.web_helpers import Web, confirm_link, csrf_of, insert_campaign

LETTER = '---\nsubject: "Streik"\nlanguage: de\n---\n\nLiebe Mitglieder,\n\nder Streik beginnt.\n'


def html_lang(response: httpx.Response) -> str:
    found = re.search(r'<html lang="([^"]*)">', response.text)
    assert found, "the page does not say its language"
    return found.group(1)


def selected(response: httpx.Response) -> str | None:
    found = re.search(r'<option value="([^"]+)"[^>]* selected>', response.text)
    return found.group(1) if found else None


def language_of(web: Web, address: str) -> str:
    person = find_subscriber(web.store, address)
    assert person is not None
    return person.language


async def sign_up(
    web: Web, path: str, email: str, language: str | None = None, **headers: str
) -> httpx.Response:
    page = await web.client.get(path, headers=headers)
    data = {"email": email, "csrf": csrf_of(page.text)}
    if language is not None:
        data["language"] = language
    return await web.client.post(path, data=data, headers=headers)


# -- the subscribe form ---------------------------------------------------------------------


async def test_the_form_speaks_the_browsers_language_among_the_lists_and_offers_them(
    web: Web,
) -> None:
    web.make_list(language="de", languages=("de", "es", "fr"))
    response = await web.client.get(
        "/s/news", headers={"Accept-Language": "it;q=1, fr-CH;q=0.9, en;q=0.8"}
    )
    assert response.status_code == 200
    assert html_lang(response) == "fr"
    assert "<h1>S'inscrire à News</h1>" in response.text.replace("&#39;", "'")
    assert '<label for="language">Langue</label>' in response.text
    assert selected(response) == "fr"
    for tag, name in (("de", "Deutsch"), ("es", "Español"), ("fr", "Français")):
        assert f'<option value="{tag}" lang="{tag}"' in response.text
        assert f">{name}</option>" in response.text
    assert "default-src 'none'" in response.headers["content-security-policy"]
    assert "<script" not in response.text


async def test_lang_in_the_address_wins_and_the_lists_default_comes_last(web: Web) -> None:
    web.make_list(language="de", languages=("de", "es", "fr"))
    french = {"Accept-Language": "fr"}
    asked = await web.client.get("/s/news?lang=es", headers=french)
    assert (html_lang(asked), selected(asked)) == ("es", "es")
    assert "Suscribirse a News" in asked.text
    not_offered = await web.client.get("/s/news?lang=pt-BR", headers=french)
    assert html_lang(not_offered) == "fr"
    nothing_fits = await web.client.get("/s/news", headers={"Accept-Language": "pt, *;q=0.5"})
    assert (html_lang(nothing_fits), selected(nothing_fits)) == ("de", "de")
    assert "News abonnieren" in nothing_fits.text


async def test_a_list_of_one_language_or_none_shows_no_menu(web: Web) -> None:
    web.make_list("one", language="es", languages=("es",))
    web.make_list("none")
    one = await web.client.get("/s/one", headers={"Accept-Language": "de"})
    assert html_lang(one) == "es" and "<select" not in one.text
    browser = await web.client.get("/s/none", headers={"Accept-Language": "pt-BR,pt;q=0.9"})
    assert html_lang(browser) == "pt" and "<select" not in browser.text
    assert "Inscrever-se em None" in browser.text
    unknown = await web.client.get("/s/none", headers={"Accept-Language": "sw"})
    assert html_lang(unknown) == "en"
    assert "Subscribe to None" in unknown.text


async def test_a_spanish_sign_up_is_stored_as_spanish_and_confirmed_in_spanish(web: Web) -> None:
    web.make_list(title="Noticias", language="de", languages=("de", "es"))
    answer = await sign_up(web, "/s/news", "ana@example.org", "es")
    assert answer.status_code == 200
    assert html_lang(answer) == "es" and "<h1>Gracias</h1>" in answer.text
    assert language_of(web, "ana@example.org") == "es"
    (message,) = web.outbox()
    assert message["Subject"] == "Confirme su suscripción a Noticias"
    assert message["Content-Language"] == "es"
    body = message.get_body(("plain",))
    assert body is not None
    text = body.get_content()
    assert text.startswith("Hola:\n\nAlguien, probablemente usted, pidió suscribir ")
    words = " ".join(text.split())
    assert "ana@example.org a «Noticias»." in words
    assert "El enlace vale durante 7 días." in words
    link = confirm_link(message)
    page = await web.client.get(link)
    assert html_lang(page) == "es"
    assert "Confirme su suscripción a Noticias" in page.text
    done = await web.client.post(link, data={"csrf": csrf_of(page.text)})
    assert html_lang(done) == "es" and "Su suscripción está activa" in done.text


async def test_a_known_persons_language_is_never_replaced_by_the_forms(web: Web) -> None:
    news = web.make_list(language="de", languages=("de", "es"))
    web.subscribe(web.make_list("other"), "kai@example.org", language="fr")
    await sign_up(web, "/s/news", "kai@example.org", "es")
    (message,) = web.outbox()
    assert message["Content-Language"] == "es"  # written in the form's language
    page = await web.client.get(confirm_link(message))
    assert html_lang(page) == "fr"  # the confirm page: the person's own
    await web.client.post(confirm_link(message), data={"csrf": csrf_of(page.text)})
    assert language_of(web, "kai@example.org") == "fr"
    row = web.subscription(web.subscriber_id("kai@example.org"), news.id)
    assert row is not None and row["status"] == "confirmed"


async def test_a_known_person_without_a_language_takes_the_forms_on_confirming(
    web: Web,
) -> None:
    web.make_list(language="de", languages=("de", "pt"))
    web.subscribe(web.make_list("other"), "rui@example.org")
    await sign_up(web, "/s/news", "rui@example.org", "pt")
    assert language_of(web, "rui@example.org") == ""  # a stranger could have sent the form
    (message,) = web.outbox()
    link = confirm_link(message)
    page = await web.client.get(link)
    assert html_lang(page) == "pt"
    await web.client.post(link, data={"csrf": csrf_of(page.text)})
    assert language_of(web, "rui@example.org") == "pt"


async def test_a_posted_language_the_list_does_not_offer_is_not_stored(web: Web) -> None:
    web.make_list(language="de", languages=("de", "es"))
    await sign_up(web, "/s/news", "ana@example.org", "xx-forged")
    assert language_of(web, "ana@example.org") == "de"


# -- pages behind a link: the subscriber's language -----------------------------------------


async def test_the_unsubscribe_page_speaks_the_subscribers_language(web: Web) -> None:
    news = web.make_list(language="de", languages=("de", "pt"))
    url = f"/u/{web.signer.unsubscribe(web.subscribe(news, 'joao@example.org', 'pt-BR'), news.id)}"
    page = await web.client.get(url, headers={"Accept-Language": "fr"})
    assert html_lang(page) == "pt"
    assert "<h1>Cancelar a inscrição em News</h1>" in page.text
    assert "Cancelar a inscrição em todas as listas" in page.text
    done = await web.client.post(url, data={"csrf": csrf_of(page.text), "scope": "list"})
    assert html_lang(done) == "pt" and "Sua inscrição foi cancelada" in done.text
    for header in ("x-frame-options", "referrer-policy", "x-content-type-options"):
        assert header in done.headers


async def test_without_a_language_of_their_own_they_get_the_lists_default(web: Web) -> None:
    german = web.make_list("german", language="de")
    plain = web.make_list("plain")
    for mailing_list, language, heading in (
        (german, "de", "Von German abmelden"),
        (plain, "en", "Unsubscribe from Plain"),
    ):
        sid = web.subscribe(mailing_list, f"kim@{mailing_list.name}.example.org")
        page = await web.client.get(f"/u/{web.signer.unsubscribe(sid, mailing_list.id)}")
        assert html_lang(page) == language
        assert heading in page.text


async def test_a_stale_form_is_explained_in_the_pages_language(web: Web) -> None:
    news = web.make_list(language="fr")
    url = f"/u/{web.signer.unsubscribe(web.subscribe(news, 'lea@example.org'), news.id)}"
    response = await web.client.post(url, data={"scope": "all"})
    assert response.status_code == 400
    assert "Veuillez cliquer à nouveau sur le bouton." in response.text


# -- pages of nobody's: the visitor's language -----------------------------------------------


async def test_error_pages_speak_the_visitors_language(web: Web) -> None:
    missing = await web.client.get("/nowhere", headers={"Accept-Language": "de-DE,de;q=0.9"})
    assert missing.status_code == 404
    assert html_lang(missing) == "de" and "<h1>Nicht gefunden</h1>" in missing.text
    broken = await web.client.get("/u/not-a-token", headers={"Accept-Language": "es"})
    assert broken.status_code == 400
    assert "<h1>Este enlace no funciona</h1>" in broken.text
    assert "El enlace está dañado (no se puede leer)." in broken.text
    english = await web.client.get("/nowhere", headers={"Accept-Language": "q=x, ;;, fr;q=0"})
    assert html_lang(english) == "en" and "<h1>Not found</h1>" in english.text


async def test_the_archive_speaks_the_lists_language_and_its_index_the_visitors(
    web: Web,
) -> None:
    news = web.make_list(language="de")
    campaign = insert_campaign(web.store, news, subject="Streik", source=LETTER)
    index = await web.client.get("/archive/", headers={"Accept-Language": "fr"})
    assert html_lang(index) == "fr" and "<h1>Archives</h1>" in index.text
    assert index.headers["vary"] == "Accept-Language"
    letter = await web.client.get(f"/archive/{campaign}", headers={"Accept-Language": "fr"})
    assert html_lang(letter) == "de"
    assert "Archiv</a>" in letter.text and ">Abonnieren</a>" in letter.text
    assert ">Abmelden</a>" in letter.text  # the letter's own layout, in its language
