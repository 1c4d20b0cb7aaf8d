"""The SDP and RTCP glue of the WebRTC outputs: the WHIP offer names the H.264 profile really sent (the broadcast's
High, not aiortc's Constrained Baseline) and still negotiates with aiortc on both ends; picture-loss reports reach
the show's encoder at most once a second."""

from __future__ import annotations

import asyncio
import re

from streamer.publish.webrtc import (
    AIORTC_H264_PROFILE,
    PacketFeed,
    accept_any_h264_profile,
    declare_h264_profile,
    host_candidates,
    prefer_codecs,
    route_picture_loss,
)


def _plids(sdp: str) -> dict[str, str]:
    return dict(re.findall(r"a=fmtp:(\d+) [^\r\n]*profile-level-id=([0-9a-fA-F]{6})", sdp))


def test_the_offer_declares_the_real_profile_and_both_aiortc_ends_still_agree_on_h264():
    from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

    async def main() -> tuple[str, str, str, str]:
        with host_candidates(["127.0.0.1"]):
            sender = RTCPeerConnection(RTCConfiguration(iceServers=[]))
            receiver = RTCPeerConnection(RTCConfiguration(iceServers=[]))
            feed = PacketFeed()
            try:
                prefer_codecs(sender, feed)
                await sender.setLocalDescription(await sender.createOffer())
                aiortc_offer = sender.localDescription.sdp
                sent_offer, answer_for_aiortc = declare_h264_profile(aiortc_offer, "64001f")
                # The far end (an aiortc WHIP endpoint here) takes the offer as it can, answers with our profile.
                offer_for_receiver, answer_for_peer = accept_any_h264_profile(sent_offer)
                await receiver.setRemoteDescription(RTCSessionDescription(sdp=offer_for_receiver, type="offer"))
                await receiver.setLocalDescription(await receiver.createAnswer())
                answer = answer_for_peer(receiver.localDescription.sdp)
                await sender.setRemoteDescription(RTCSessionDescription(sdp=answer_for_aiortc(answer), type="answer"))
                video = next(t for t in sender.getTransceivers() if t.kind == "video")
                negotiated = video._codecs[0]  # what aiortc will send (its negotiated list, best first)
                return aiortc_offer, sent_offer, answer, negotiated.mimeType
            finally:
                feed.stop()
                await sender.close()
                await receiver.close()

    aiortc_offer, sent_offer, answer, mime = asyncio.run(main())
    before, sent, answered = _plids(aiortc_offer), _plids(sent_offer), _plids(answer)
    assert set(before.values()) <= {"42001f", "42e01f"} and before  # aiortc by itself: Constrained Baseline
    assert sent == dict.fromkeys(before, "64001f")  # the same payload types, the real profile
    assert answered and set(answered.values()) == {"64001f"} and set(answered) <= set(before)
    assert mime == "video/H264"
    # Nothing else in the offer changed.
    assert re.sub(r"profile-level-id=\w+", "", sent_offer) == re.sub(r"profile-level-id=\w+", "", aiortc_offer)


def test_an_answer_without_h264_is_left_alone_and_other_formats_keep_their_parameters():
    offer = (
        "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 97 99\r\n"
        "a=fmtp:97 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f\r\n"
        "a=fmtp:98 apt=97\r\n"
        "a=fmtp:99 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f\r\n"
        "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=fmtp:111 minptime=10;useinbandfec=1\r\n"
    )
    sent, back = declare_h264_profile(offer, "640028")
    assert _plids(sent) == {"97": "640028", "99": "640028"}
    assert "a=fmtp:98 apt=97" in sent and "a=fmtp:111 minptime=10;useinbandfec=1" in sent
    assert "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=640028" in sent
    answer = "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 99\r\na=fmtp:99 packetization-mode=1;profile-level-id=640028\r\n"
    assert _plids(back(answer)) == {"99": "42e01f"}  # the payload type's own original, for aiortc
    no_h264 = "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 VP8/90000\r\n"
    assert back(no_h264) == no_h264
    received, _ = accept_any_h264_profile(sent)
    assert set(_plids(received).values()) == {AIORTC_H264_PROFILE}


class _Sender:
    def __init__(self) -> None:
        self.own_keyframes = 0

    def _send_keyframe(self) -> None:
        self.own_keyframes += 1


def test_picture_loss_reports_reach_the_show_encoder_at_most_once_a_second():
    sender, asked, now = _Sender(), [], [100.0]
    route_picture_loss(sender, lambda: asked.append(now[0]), min_interval_s=1.0, now=lambda: now[0])
    for t in (100.0, 100.1, 100.5, 100.99, 101.0, 101.2, 103.0):
        now[0] = t
        sender._send_keyframe()
    assert sender.own_keyframes == 7  # aiortc's own handling still runs every time
    assert asked == [100.0, 101.0, 103.0]
