"""A representative acts for the complainant with their letter of authority: it is required and
shown; the response goes to the representative only once it is on file, with its document."""

from __future__ import annotations

from datetime import date, timedelta

from tests.casefixtures import auth, step, upload_draft, walk_to_draft


async def test_the_response_goes_to_a_representative_only_with_the_letter_of_authority_on_file(api, mailbox):
    case = await walk_to_draft(api)
    ref = case["reference"]
    rep = next(c for c in case["correspondents"] if c["relationship"] == "representative")
    complainant = next(c for c in case["correspondents"] if c["is_primary"])
    assert (rep["authority_required"], rep["authority_received_on"]) == (True, None)
    assert complainant["authority_required"] is False
    await upload_draft(api, ref)
    await step(api, ref, "submit-draft", "drafter")
    await step(api, ref, "qa/approve", "qa")

    refused = await api.post(f"/cases/{ref}/send", json={"channel": "email", "to": rep["id"]}, headers=auth("drafter"))
    assert refused.status_code == 409 and "letter of" in refused.text and "authority" in refused.text
    unknown = await api.post(f"/cases/{ref}/send", json={"channel": "email", "to": "nobody"}, headers=auth("drafter"))
    assert unknown.status_code == 422 and "to" in unknown.text, unknown.text

    letter = await api.post("/uploads", files={"file": ("authority.pdf", b"%PDF-1.4 letter of authority", "application/pdf")},
                            headers=auth("drafter"))
    future = (date.today() + timedelta(days=1)).isoformat()
    bad = await api.post(f"/cases/{ref}/correspondents/{rep['id']}/authority", headers=auth("drafter"),
                         json={"received_on": future, "upload_id": letter.json()["upload_id"]})
    assert bad.status_code == 422 and "received_on" in bad.text
    case = await step(api, ref, f"correspondents/{rep['id']}/authority", "drafter",
                      {"received_on": date.today().isoformat(), "upload_id": letter.json()["upload_id"]})
    rep = next(c for c in case["correspondents"] if c["id"] == rep["id"])
    assert rep["authority_received_on"] == date.today().isoformat()
    assert rep["authority_document_id"] in {d["id"] for d in case["documents"]}
    timeline = (await api.get(f"/cases/{ref}/timeline", headers=auth("drafter"))).json()
    assert any(e["kind"] == "authority_received" for e in timeline)

    case = await step(api, ref, "send", "drafter", {"channel": "email", "to": rep["id"]})
    assert case["stage"] == "outcome"
    [response] = [m for m in mailbox.to(rep["email"]) if ref in str(m["Subject"])]
    assert rep["name"] in response.get_body(("plain",)).get_content()
