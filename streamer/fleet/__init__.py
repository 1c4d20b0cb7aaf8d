"""A fleet: many channels, each its own process under Ray (one actor per channel), on one machine or a cluster.

* :mod:`streamer.fleet.plan` reads ``fleet.yaml`` (each channel: the keys of ``stream.yaml`` plus a ``name`` and its
  ``resources``) into one :class:`~streamer.app.ChannelSpec` per channel, every path made absolute;
* :mod:`streamer.fleet.actor`: the channel actor (a :class:`~streamer.app.Channel` in its own process, with a
  ``ping`` answered on its own thread from the media loop's last frame time);
* :mod:`streamer.fleet.supervisor`: applies a plan (adds, removes, restarts only what changed), watches every
  channel's frames, and restarts a channel that has made none for 10 s; ``status``, ``restart``, ``drain``, ``down``;
* :mod:`streamer.fleet.cli`: ``run_stream.py fleet up|status|restart|drain|down``.

Ray is the engine (its actors, restarts, resources and placement); nothing here schedules processes itself.
"""
