"""Web stack: Cognito user pool + app client (flow 1), Amplify app for the Next.js shop (flows 2-3, 6-8).

The repository access token comes from Secrets Manager through a dynamic reference, resolved by
CloudFormation at deploy time: it never appears in the template, parameters or outputs.
"""

from __future__ import annotations

from troposphere import (
    Equals,
    GetAtt,
    If,
    Not,
    NoValue,
    Parameter,
    Ref,
    Sub,
    Template,
    amplify,
    cognito,
)

from stacks.params import BuildParams
from stacks.template import export, finish, import_from, new_template, stack_name_parameter, standard_tags

STACK = "web"


def build(params: BuildParams) -> Template:
    t = new_template("Clickstream web: Cognito user pool and Amplify Hosting app for the Next.js shop")
    ingest = stack_name_parameter(t, params, "ingest")
    pool_name = t.add_parameter(
        Parameter(
            "UserPoolName",
            Type="String",
            Default=params.name("SBW_UserPool"),
            Description="Cognito user pool",
        )
    )
    app_name = t.add_parameter(
        Parameter(
            "AmplifyAppName", Type="String", Default=params.name("SBW_Web"), Description="Amplify app name"
        )
    )
    repository = t.add_parameter(
        Parameter(
            "RepositoryUrl",
            Type="String",
            Default="",
            AllowedPattern=r"^$|^https://.+$",
            Description="Git repository of the Next.js app (https URL); empty = manual deployments",
        )
    )
    branch = t.add_parameter(
        Parameter("BranchName", Type="String", Default="main", Description="Branch Amplify builds")
    )
    t.add_parameter(
        Parameter(  # used by name inside the dynamic reference
            "RepositoryTokenSecretName",
            Type="String",
            Default=f"/clickstream/{params.env}/amplify/repo-token",
            AllowedPattern=r"^[A-Za-z0-9/_+=.@-]{1,512}$",
            Description="Secrets Manager secret whose 'token' key is the repository access token",
        )
    )
    callback = t.add_parameter(
        Parameter(
            "CallbackUrls",
            Type="CommaDelimitedList",
            Default="http://localhost:3000/api/auth/callback",
            Description="OAuth callback URLs of the web app",
        )
    )
    logout = t.add_parameter(
        Parameter(
            "LogoutUrls",
            Type="CommaDelimitedList",
            Default="http://localhost:3000/",
            Description="Sign-out URLs of the web app",
        )
    )
    t.add_condition("HasRepository", Not(Equals(Ref(repository), "")))

    pool = t.add_resource(
        cognito.UserPool(
            "UserPool",
            DeletionPolicy="Retain",  # shoppers' accounts outlive the stack
            UpdateReplacePolicy="Retain",
            UserPoolName=Ref(pool_name),
            UsernameAttributes=["email"],
            AutoVerifiedAttributes=["email"],
            MfaConfiguration="OPTIONAL",
            EnabledMfas=["SOFTWARE_TOKEN_MFA"],
            Policies=cognito.Policies(
                PasswordPolicy=cognito.PasswordPolicy(
                    MinimumLength=12,
                    RequireLowercase=True,
                    RequireUppercase=True,
                    RequireNumbers=True,
                    RequireSymbols=False,
                    TemporaryPasswordValidityDays=3,
                )
            ),
            AccountRecoverySetting=cognito.AccountRecoverySetting(
                RecoveryMechanisms=[cognito.RecoveryOption(Name="verified_email", Priority=1)]
            ),
            AdminCreateUserConfig=cognito.AdminCreateUserConfig(AllowAdminCreateUserOnly=False),
            DeletionProtection="ACTIVE",
            UserPoolTags={"project": "clickstream", "clickstream:env": params.env},
        )
    )
    client = t.add_resource(
        cognito.UserPoolClient(
            "UserPoolClient",
            UserPoolId=Ref(pool),
            ClientName=Sub("${UserPoolName}-web"),
            GenerateSecret=False,  # a browser/SSR public client cannot keep a secret
            ExplicitAuthFlows=["ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
            PreventUserExistenceErrors="ENABLED",
            AllowedOAuthFlowsUserPoolClient=True,
            AllowedOAuthFlows=["code"],
            AllowedOAuthScopes=["openid", "email", "profile"],
            CallbackURLs=Ref(callback),
            LogoutURLs=Ref(logout),
            SupportedIdentityProviders=["COGNITO"],
            EnableTokenRevocation=True,
            AccessTokenValidity=60,
            IdTokenValidity=60,
            RefreshTokenValidity=30,
            TokenValidityUnits=cognito.TokenValidityUnits(
                AccessToken="minutes", IdToken="minutes", RefreshToken="days"
            ),
        )
    )

    app = t.add_resource(
        amplify.App(
            "AmplifyApp",
            Name=Ref(app_name),
            Description="Next.js shop (SSR) with clickstream instrumentation",
            Platform="WEB_COMPUTE",
            Repository=If("HasRepository", Ref(repository), NoValue),
            AccessToken=If(
                "HasRepository",
                Sub("{{resolve:secretsmanager:${RepositoryTokenSecretName}:SecretString:token}}"),
                NoValue,
            ),
            EnvironmentVariables=[
                amplify.EnvironmentVariable(Name="NEXT_PUBLIC_COGNITO_USER_POOL_ID", Value=Ref(pool)),
                amplify.EnvironmentVariable(Name="NEXT_PUBLIC_COGNITO_CLIENT_ID", Value=Ref(client)),
                amplify.EnvironmentVariable(
                    Name="NEXT_PUBLIC_CLICKSTREAM_ENDPOINT", Value=import_from(ingest, "ApiEndpoint")
                ),
            ],
            Tags=standard_tags(params, STACK),
        )
    )
    t.add_resource(
        amplify.Branch(
            "AmplifyBranch",
            AppId=GetAtt(app, "AppId"),
            BranchName=Ref(branch),
            Stage="PRODUCTION",
            Framework="Next.js - SSR",
            EnableAutoBuild=True,
            Tags=standard_tags(params, STACK),
        )
    )

    export(t, "UserPoolId", Ref(pool), "Cognito user pool id")
    export(t, "UserPoolClientId", Ref(client), "Cognito app client id (public, no secret)")
    export(t, "AmplifyAppId", GetAtt(app, "AppId"), "Amplify app id")
    export(t, "AmplifyDefaultDomain", GetAtt(app, "DefaultDomain"), "Amplify default domain")
    return finish(t, params, STACK)
