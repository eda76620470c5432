"""The OpenSubsonic API under ``/rest/``: client apps (DSub, Symfonium, Amperfy, Feishin, …) browse, search,
stream and annotate the library, federated tracks included. Own router, rendering (XML, JSON, JSONP) and
authentication (app passwords and API keys); it calls the library, listening, search and streaming features."""
