"""Client features of issue 10 against the emulator over loopback sockets: multipart ``file_image`` for
guild and DM sends, ``online_nums``, ``file_name`` and the chunked upload flow, markdown ``style``."""

from __future__ import annotations

from collections.abc import AsyncIterator

import msgspec
import pytest

from framework.emulator import Emulator
from framework.emulator.config import DEFAULT_APP_ID, DEFAULT_APP_SECRET
from framework.models.api import Markdown, MarkdownStyle, Media, MediaInfo, MessageToCreate, SendResult
from framework.models.events import Message
from framework.runtime.credentials import Credentials, TokenManager
from framework.runtime.openapi import OpenAPI
from framework.runtime.platform import Platform

pytestmark = pytest.mark.anyio

_PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


@pytest.fixture
async def setup() -> AsyncIterator[tuple[Emulator, OpenAPI]]:
    emulator = Emulator()
    emulator.world.add_guild("1001")
    emulator.world.add_channel("1001", "2001")
    emulator.world.add_member("1001", "3001", "alice")
    emulator.world.add_group("G1")
    async with emulator.serve("127.0.0.1", 0) as url:
        tokens = TokenManager(Credentials(DEFAULT_APP_ID, DEFAULT_APP_SECRET), platform=Platform.at(url))
        async with OpenAPI(tokens, base_url=url) as api:
            yield emulator, api
        await tokens.aclose()


async def test_file_image_goes_multipart_to_guild_and_dm(setup: tuple[Emulator, OpenAPI]) -> None:
    emulator, api = setup
    event = emulator.control.channel_message("2001", "pic?", author_id="3001", mention_bot=True)[0]
    msg = await api.post_channel_message(
        "2001", MessageToCreate(content="here", msg_id=event.d["id"]), file_image=_PNG, filename="cat.png"
    )
    assert isinstance(msg, Message) and msg.attachments[0].filename == "cat.png"
    (call,) = emulator.control.calls("POST", "/channels/2001/messages")
    assert call.headers["content-type"].startswith("multipart/form-data")
    assert emulator.control.sent("guild", "2001")[0].body["file_image"]["size"] == len(_PNG)
    dms = await api.create_dms("3001", "1001")
    dm = await api.post_dms_message(dms.guild_id, MessageToCreate(content="dm"), file_image=_PNG)
    assert isinstance(dm, Message) and dm.attachments
    with pytest.raises(ValueError, match="markdown cannot be sent with file_image"):
        await api.post_channel_message("2001", MessageToCreate(markdown=Markdown(content="m")), file_image=_PNG)


async def test_online_nums(setup: tuple[Emulator, OpenAPI]) -> None:
    _, api = setup
    assert await api.get_online_nums("2001") == 1


async def test_chunked_upload_and_file_name(setup: tuple[Emulator, OpenAPI]) -> None:
    emulator, api = setup
    data = bytes(range(256)) * 5000  # 1.28 MB: two parts of the emulator's 1 MiB blocks
    info = await api.upload_chunked(data, file_type=4, file_name="big.bin", group_openid="G1")
    assert isinstance(info, MediaInfo) and info.file_info
    steps = [(c.method, c.path.rsplit("/", 1)[-1]) for c in emulator.control.calls(path_prefix="/v2/groups/G1")]
    assert steps == [("POST", "upload_prepare")] + [("POST", "upload_part_finish")] * 2 + [("POST", "files")]
    event = emulator.control.group_at_message("send it", group_openid="G1")
    sent = await api.post_group_message(
        "G1", MessageToCreate(msg_type=7, content=" ", media=Media(file_info=info.file_info), msg_id=event.d["id"])
    )
    assert isinstance(sent, SendResult) and sent.id
    named = await api.upload_group_file("G1", file_type=4, url="https://x.test/a.pdf", file_name="a.pdf")
    assert named.file_info
    assert emulator.control.calls(path_prefix="/v2/groups/G1/files")[-1].body["file_name"] == "a.pdf"
    with pytest.raises(ValueError):
        await api.upload_chunked(data, file_type=4, file_name="x", group_openid="G1", openid="U1")


async def test_markdown_style_and_process_msg_encode() -> None:
    md = Markdown(content="# hi", style=MarkdownStyle(main_font_size="small", layout="hide_avatar_and_center"))
    assert msgspec.to_builtins(md) == {
        "content": "# hi",
        "style": {"main_font_size": "small", "layout": "hide_avatar_and_center"},
    }
    assert msgspec.to_builtins(Markdown(custom_template_id="t", process_msg=1)) == {
        "custom_template_id": "t",
        "process_msg": 1,
    }
