import asyncio

from mastra_nb import RuntimeContext


async def test_activated_context_reaches_tasks_started_inside():
    ctx = RuntimeContext({"user_id": "u1"})

    async def read() -> str:
        await asyncio.sleep(0)
        return RuntimeContext.current()["user_id"]

    with ctx.activate():
        assert await asyncio.gather(read(), read()) == ["u1", "u1"]
    assert "user_id" not in RuntimeContext.current()


async def test_concurrent_requests_keep_their_own_values():
    async def request(user: str) -> str:
        with RuntimeContext({"user": user}).activate():
            await asyncio.sleep(0.01)
            return RuntimeContext.current()["user"]

    assert await asyncio.gather(*(request(f"u{i}") for i in range(20))) == [f"u{i}" for i in range(20)]


def test_nested_activation_restores_the_outer_context():
    outer, inner = RuntimeContext({"a": 1}), RuntimeContext({"a": 2})
    with outer.activate():
        with inner.activate():
            assert RuntimeContext.current() is inner
        assert RuntimeContext.current() is outer


def test_context_is_a_mapping():
    ctx = RuntimeContext()
    ctx["locale"] = "nb"
    assert dict(ctx) == {"locale": "nb"} and len(ctx) == 1
    del ctx["locale"]
    assert ctx.get("locale", "en") == "en"
